// Twitch EventSub vectors for tests/scheme_vectors/twitch.rs.
//
// Twitch publishes no signed example, so these are made with Node's own
// crypto exactly as Twitch's docs ("Verifying the event message",
// https://dev.twitch.tv/docs/eventsub/handling-webhook-events/) describe:
// HMAC-SHA256(secret, message_id + timestamp + raw_body), hex, `sha256=`.
// Bodies, message id and timestamp follow the docs' examples; the secret is
// ours. Run: node tests/vectors/twitch.js
const crypto = require('crypto');

const secret = 'hookwarden-twitch-secret';
const id = 'e76c6bd4-55c9-4987-8304-da1588d8988b';
const timestamp = '2019-11-16T10:11:12.634234626Z';
const subscription = (status) => ({
  id: 'f1c2a387-161a-49f9-a165-0f21d7a4e1c4',
  status,
  type: 'channel.follow',
  version: '2',
  cost: 0,
  condition: { broadcaster_user_id: '1337', moderator_user_id: '1337' },
  transport: { method: 'webhook', callback: 'https://example.com/webhooks/callback' },
  created_at: '2019-11-16T10:11:12.634234626Z',
});
const bodies = {
  notification: JSON.stringify({
    subscription: subscription('enabled'),
    event: {
      user_id: '1234',
      user_login: 'cool_user',
      user_name: 'Cool_User',
      broadcaster_user_id: '1337',
      broadcaster_user_login: 'cooler_user',
      broadcaster_user_name: 'Cooler_User',
      followed_at: '2020-07-15T18:16:11.17106713Z',
    },
  }),
  webhook_callback_verification: JSON.stringify({
    challenge: 'pogchamp-kappa-360noscope-vohiyo',
    subscription: subscription('webhook_callback_verification_pending'),
  }),
  revocation: JSON.stringify({ subscription: subscription('authorization_revoked') }),
};
for (const [type, body] of Object.entries(bodies)) {
  const hmac = crypto.createHmac('sha256', secret).update(id + timestamp + body).digest('hex');
  console.log(JSON.stringify({ type, body, signature: `sha256=${hmac}` }, null, 1));
}
