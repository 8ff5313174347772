// Signatures for tests/scheme_vectors/intercom.rs. Intercom publishes no
// signed example, so these are made the way its docs ("Signed
// notifications", developers.intercom.com/docs/webhooks/setting-up-webhooks)
// describe: `X-Hub-Signature: sha1=` + hex HMAC-SHA1 of the raw body, keyed
// with the app's client secret. The bodies follow the notification model of
// developers.intercom.com/docs/references/rest-api/api.intercom.io/webhooks
// (a `notification_event` with `id`, `topic`, `created_at`, `data.item`), and
// a `ping` as sent when a webhook is saved in the Developer Hub.
//
// Run: node tests/vectors/intercom.js (Node's own crypto, no packages).
"use strict";
const crypto = require("crypto");

const CLIENT_SECRET = "d6c1e3f0-8a1b-4c5d-9e2f-intercom-test";
const bodies = {
  NOTIFICATION:
    '{"type":"notification_event","app_id":"a86dr8yl","data":{"type":"notification_event_data","item":{"type":"conversation","id":"147","state":"closed"}},"links":{},"id":"notif_ccd8a4d2-c6be-4c2b-b0e9-85a7c6f4d6a1","topic":"conversation.admin.closed","delivery_status":"pending","delivery_attempts":1,"delivered_at":0,"first_sent_at":1700000000,"created_at":1700000000,"self":null}',
  PING:
    '{"type":"notification_event","app_id":"a86dr8yl","data":{"type":"notification_event_data","item":{"type":"ping","message":"something something interzen"}},"links":{},"id":null,"topic":"ping","delivery_status":null,"delivery_attempts":1,"delivered_at":0,"first_sent_at":1700000000,"created_at":1700000000,"self":null}',
};

for (const [name, body] of Object.entries(bodies)) {
  const hex = crypto.createHmac("sha1", CLIENT_SECRET).update(body, "utf8").digest("hex");
  console.log(`${name}: sha1=${hex}`);
}
