// Discord vectors for tests/scheme_vectors/discord.rs.
//
// Discord publishes no request signed with a fixed key (its SDKs' tests
// draw a fresh key pair per run), so these are signed here with Node's
// WebCrypto Ed25519 (as discord-interactions' own tests sign) from a fixed
// seed, and each one is checked with the official `discord-interactions`
// package's `verifyKey` before it is printed. Ed25519 is deterministic:
// re-running prints the same signatures.
//
//   cd /tmp && npm install discord-interactions@4.4.0
//   NODE_PATH=/tmp/node_modules node tests/vectors/discord.js
//
// Bodies: the webhook-event example of Discord's docs
// (https://discord.com/developers/docs/events/webhook-events, "Application
// Authorized", abridged), a webhook-event PING, and the interactions PING
// of discord-interactions-js `src/__tests__/utils/SharedTestUtils.ts`.
const { webcrypto } = require('node:crypto');
const { verifyKey } = require('discord-interactions');

// 32 bytes: "hookwarden discord test seed 01!" (not a real application's key).
const SEED = Buffer.from('hookwarden discord test seed 01!', 'utf8');
const TIMESTAMP = '1729262573';

const VECTORS = {
  event:
    '{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"integration_type":1,"scopes":["applications.commands"],"user":{"id":"111178765189277770","username":"nelly","discriminator":"0","global_name":null,"avatar":null}}}}',
  webhook_ping: '{"version":1,"application_id":"1234560123453231555","type":0}',
  interactions_ping:
    '{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}',
};

async function main() {
  if (SEED.length !== 32) throw new Error('the seed must be 32 bytes');
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), SEED]);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey);
  const publicKey = Buffer.from(jwk.x, 'base64url').toString('hex');
  console.log(`seed (hex)       ${SEED.toString('hex')}`);
  console.log(`public key (hex) ${publicKey}`);
  console.log(`timestamp        ${TIMESTAMP}`);
  for (const [name, body] of Object.entries(VECTORS)) {
    const message = new TextEncoder().encode(TIMESTAMP + body);
    const signature = Buffer.from(
      await webcrypto.subtle.sign({ name: 'Ed25519' }, privateKey, message),
    ).toString('hex');
    const ok = await verifyKey(body, signature, TIMESTAMP, publicKey);
    if (!ok) throw new Error(`discord-interactions refuses ${name}`);
    const tampered = await verifyKey(body + ' ', signature, TIMESTAMP, publicKey);
    if (tampered) throw new Error(`discord-interactions accepts a tampered ${name}`);
    console.log(`${name}: ${signature}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
