// Linear vector for tests/scheme_vectors/linear.rs.
//
// Linear publishes no fixed signature: its SDK's own test
// (linear/linear packages/sdk/src/_tests/LinearWebhooks.test.ts at
// 0950795080a2482711b72b604286f83ccd04c374) signs `JSON.stringify(requestBody)`
// with the secret "SECRET" at run time. This script signs that same body
// with Node's crypto (hex HMAC-SHA256 of the raw body, the `Linear-Signature`
// header) and has the official SDK check it: LinearWebhookClient.verify from
// @linear/sdk 98.0.0, with its clock set 1 s after the body's
// webhookTimestamp (the SDK refuses anything more than 60 s away).
//
// Run: cd "$(mktemp -d)" && npm install @linear/sdk@98.0.0 &&
//      node /path/to/tests/vectors/linear.mjs
import crypto from 'crypto';
import { createRequire } from 'module';
import { pathToFileURL } from 'url';

const require = createRequire(`${process.cwd()}/`);
const { LinearWebhookClient } = await import(pathToFileURL(require.resolve('@linear/sdk/webhooks')).href);
const version = require('@linear/sdk/package.json').version;

const requestBody = {
  action: 'create',
  data: {
    id: '2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9',
    createdAt: '2020-01-23T12:53:18.084Z',
    updatedAt: '2020-01-23T12:53:18.084Z',
    archivedAt: null,
    body: 'Indeed, I think this is definitely an improvement over the previous version.',
    edited: false,
    issueId: '539068e2-ae88-4d09-bd75-22eb4a59612f',
    userId: 'aacdca22-6266-4c0a-ab3c-8fa70a26765c',
  },
  type: 'Comment',
  url: 'https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8',
  createdAt: '2020-01-23T12:53:18.084Z',
  webhookTimestamp: 1677611643000,
};
const secret = 'SECRET';
const rawBody = Buffer.from(JSON.stringify(requestBody));
const signature = crypto.createHmac('sha256', secret).update(rawBody).digest('hex');

Date.now = () => requestBody.webhookTimestamp + 1000;
const verified = new LinearWebhookClient(secret).verify(rawBody, signature);
let wrongSecretRefused = false;
try {
  new LinearWebhookClient('WRONG_SECRET').verify(rawBody, signature);
} catch {
  wrongSecretRefused = true;
}
console.log(JSON.stringify({ sdk: version, body: rawBody.toString(), signature, verified, wrongSecretRefused }, null, 1));
