// Zoom vectors for tests/scheme_vectors/zoom.rs.
//
// Zoom publishes no signed example. These follow Zoom's sample app
// (zoom/webhook-sample, index.js at 1d3936462478f392f249bf2da2047b8759caa870):
// x-zm-signature = "v0=" + hex HMAC-SHA256(secret token,
// `v0:${x-zm-request-timestamp}:${raw body}`), and the URL validation's
// encryptedToken = hex HMAC-SHA256(secret token, plainToken), made with
// Node's own crypto. The meeting.started body is the sample's README
// example with its placeholders filled in; the secret is ours.
// Run: node tests/vectors/zoom.js
const crypto = require('crypto');

const secret = 'hookwarden-zoom-secret-token';
const timestamp = '1635885799';
const sign = (message) => crypto.createHmac('sha256', secret).update(message).digest('hex');
const bodies = {
  event: JSON.stringify({
    event: 'meeting.started',
    payload: {
      account_id: 'AAAAAABBBB',
      object: {
        duration: 0,
        start_time: '2021-11-02T20:43:19Z',
        timezone: 'America/Denver',
        topic: 'My Meeting',
        id: '1234567890',
        type: 4,
        uuid: 'czLF6FFGSW6dHnCJtLn0Cg==',
        host_id: 'x1yCzABCDEfg23HiJKl4mN',
      },
    },
    event_ts: 1635885799302,
  }),
  url_validation: JSON.stringify({
    payload: { plainToken: 'qgg8vlvZRS6UYooatFL8Aw' },
    event_ts: 1654503849680,
    event: 'endpoint.url_validation',
  }),
};
for (const [kind, body] of Object.entries(bodies)) {
  console.log(JSON.stringify({ kind, body, signature: `v0=${sign(`v0:${timestamp}:${body}`)}` }, null, 1));
}
console.log(JSON.stringify({ encryptedToken: sign('qgg8vlvZRS6UYooatFL8Aw') }));
