// The webhook sender most guides show, written as they write it: the hex
// HMAC-SHA256 of JSON.stringify(payload) in X-Webhook-Signature, an optional
// X-Webhook-Version header, and no id anywhere. The body is posted exactly as
// axios posts an object: JSON.stringify(payload) with
// Content-Type: application/json.
//
// usage: node node_sender.js URL SECRET
// Prints one JSON line per delivery: {"status":N,"body":{…}}.
'use strict';

const crypto = require('crypto');

const [url, secret] = process.argv.slice(2);

async function send(payload, version) {
  const body = JSON.stringify(payload);
  const signature = crypto.createHmac('sha256', secret).update(body).digest('hex');
  const headers = { 'Content-Type': 'application/json', 'X-Webhook-Signature': signature };
  if (version) {
    headers['X-Webhook-Version'] = version;
  }
  const response = await fetch(url, { method: 'POST', headers, body });
  console.log(JSON.stringify({ status: response.status, body: await response.json() }));
}

(async () => {
  const payload = {
    event: 'user.registered',
    timestamp: Date.now(),
    data: {
      user_id: 'usr_123',
      email: 'ada@example.com',
      username: 'ada',
      registered_at: new Date().toISOString(),
    },
  };
  await send(payload, '1.0');
  // The sender's retry of the same event.
  await send(payload, '1.0');
  // Another user, without the version header.
  await send({ ...payload, data: { ...payload.data, user_id: 'usr_124', username: 'grace' } });
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
