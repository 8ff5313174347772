#!/usr/bin/env python3
"""Writes the committed seed corpus, fuzz/seeds/<target>/, from the
published vectors of tests/scheme_vectors and tests/fixtures (the text
request format of fuzz/src/lib.rs). Run from anywhere; rewrites the seeds."""

import base64
import hashlib
import hmac
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
SEEDS = os.path.join(HERE, "seeds")


def text(scheme, now, target, headers, body, sign=False):
    head = f"{scheme}{' +sign' if sign else ''}\n{now}\n{target}\n"
    for name, value in headers:
        head += f"{name}: {value}\n"
    return head.encode() + b"\n" + body


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def hex_hmac(key, *pieces, digest=hashlib.sha256):
    mac = hmac.new(key.encode(), digestmod=digest)
    for piece in pieces:
        mac.update(piece)
    return mac.hexdigest()


STRIPE_BODY = fixture("stripe_event_test_signature.json")
EVENT = b'{"id":"evt_1","type":"user.registered","version":"1","data":{"user_id":"u1"}}'
SENDGRID_PY = (
    b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
    b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
    b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
    b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n'
)
MAILGUN_EVENT = (
    '{"event":"delivered","id":"CCXMjJ7nQi2N3BPigGOdgQ","timestamp":1403645219.908181,'
    '"log-level":"info","recipient":"recipient@sample.mailgun.com","message":{"headers":'
    '{"message-id":"20260203192638.000be97f99f8cea1@sample.mailgun.com",'
    '"subject":"Sample webhook payload"}}}'
)
MAILGUN_BODY = (
    '{"signature":{"timestamp":"1403645220","token":"5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6",'
    '"signature":"9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"},'
    f'"event-data":{MAILGUN_EVENT}}}'
).encode()
TWITCH_SUBSCRIPTION = (
    '"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"%s",'
    '"type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337",'
    '"moderator_user_id":"1337"},"transport":{"method":"webhook",'
    '"callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}'
)
TWITCH_HEADERS = [
    ("Twitch-Eventsub-Message-Id", "e76c6bd4-55c9-4987-8304-da1588d8988b"),
    ("Twitch-Eventsub-Message-Timestamp", "2019-11-16T10:11:12.634234626Z"),
]
DISCORD_EVENT = (
    b'{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED",'
    b'"timestamp":"2024-10-18T14:42:53.064834","data":{"integration_type":1,"scopes":["applications.commands"],'
    b'"user":{"id":"111178765189277770","username":"nelly","discriminator":"0","global_name":null,"avatar":null}}}}'
)
LINEAR_BODY = (
    b'{"action":"create","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","createdAt":"2020-01-23T12:53:18.084Z",'
    b'"updatedAt":"2020-01-23T12:53:18.084Z","archivedAt":null,"body":"Indeed, I think this is definitely an '
    b'improvement over the previous version.","edited":false,"issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f",'
    b'"userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"type":"Comment","url":"https://linear.app/issue/LIN-1778/'
    b'foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8","createdAt":"2020-01-23T12:53:18.084Z",'
    b'"webhookTimestamp":1677611643000}'
)
SQUARE_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":'
    b'"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z",'
    b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
INTERCOM_PING = (
    b'{"type":"notification_event","app_id":"a86dr8yl","data":{"type":"notification_event_data",'
    b'"item":{"type":"ping","message":"something something interzen"}},"links":{},"id":null,"topic":"ping",'
    b'"delivery_status":null,"delivery_attempts":1,"delivered_at":0,"first_sent_at":1700000000,'
    b'"created_at":1700000000,"self":null}'
)
TWILIO_FORM = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212"
TWILIO_JSON = b'{"property": "value", "boolean": true}'
GENERIC_BODY = b'{"type":"invoice.paid","id":"evt_1"}'

# (name, scheme, now, target, headers, body): published vectors, verbatim.
VECTORS = [
    ("standard", "standard", 1614265330, "/", [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ], b'{"test": 2432232314}'),
    ("standard-decoys", "standard", 1614265330, "/", [
        ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("svix-timestamp", "1614265330"),
        ("svix-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=  v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ], b'{"test": 2432232314}'),
    ("standard-v1a", "standard-v1a", 1614265330, "/", [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="),
    ], b'{"test": 2432232314}'),
    ("github", "github", 0, "/", [
        ("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), ("X-GitHub-Event", "ping"),
    ], b"Hello, World!"),
    ("stripe", "stripe", 1533204620, "/", [
        ("Stripe-Signature", "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"),
    ], STRIPE_BODY),
    ("slack", "slack", 1531420618, "/", [
        ("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
        ("X-Slack-Request-Timestamp", "1531420618"),
    ], b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"),
    ("shopify", "shopify", 0, "/", [
        ("X-Shopify-Hmac-Sha256", "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo="),
        ("X-Shopify-Topic", "orders/create"), ("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    ], b'{"foo":"bar"}'),
    ("logto", "logto", 0, "/", [
        ("logto-signature-sha-256", "436958f1dbfefab37712fb3927760490fbf7757da8c0b2306ee7b485f0360eee"),
    ], b'{"bar":"bar","foo":"foo"}'),
    ("discord", "discord", 1729262573, "/", [
        ("X-Signature-Ed25519", "e06141ae047257bd65a26b4807e7dfdae67c36f5494f926d863743a9fd474e89d4538998edbe32213b764a4a7eba4d09ffbd6d371cfb135fe23f979d11f57c0d"),
        ("X-Signature-Timestamp", "1729262573"),
    ], DISCORD_EVENT),
    ("discord-ping", "discord", 1729262573, "/", [
        ("X-Signature-Ed25519", "dec57154822cc9178098e9d8a612575f689553f85dc217b2aa0307916fe6511aab8387c768c835426ddfefbef297941842fbeddeeccb4b6dc7470d3f4777fe05"),
        ("X-Signature-Timestamp", "1729262573"),
    ], b'{"version":1,"application_id":"1234560123453231555","type":0}'),
    ("zoom", "zoom", 1635885799, "/", [
        ("x-zm-signature", "v0=350f55c391dc43de802102fc175a0ea6473a27e7618415f4de970f3074e18a56"),
        ("x-zm-request-timestamp", "1635885799"),
    ], b'{"event":"meeting.started","payload":{"account_id":"AAAAAABBBB","object":{"duration":0,"start_time":"2021-11-02T20:43:19Z","timezone":"America/Denver","topic":"My Meeting","id":"1234567890","type":4,"uuid":"czLF6FFGSW6dHnCJtLn0Cg==","host_id":"x1yCzABCDEfg23HiJKl4mN"}},"event_ts":1635885799302}'),
    ("zoom-validation", "zoom", 1635885799, "/", [
        ("x-zm-signature", "v0=7887958f35c8440c545932d88ac4a7126d9d2f4c894a52c14b267c2df3a7e1fe"),
        ("x-zm-request-timestamp", "1635885799"),
    ], b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}'),
    ("twitch", "twitch", 1573899072, "/", TWITCH_HEADERS + [
        ("Twitch-Eventsub-Message-Signature", "sha256=6cf146539f4d4833d6b58d2313255f3213ef569c1176ef5e6089bddbcdd0cffe"),
        ("Twitch-Eventsub-Message-Type", "notification"),
    ], ("{" + TWITCH_SUBSCRIPTION % "enabled" + ',"event":{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User","broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}').encode()),
    ("twitch-challenge", "twitch", 1573899072, "/", TWITCH_HEADERS + [
        ("Twitch-Eventsub-Message-Signature", "sha256=c9028f74b875a399cb2a0f686b310d211969673ac5f55b9b983e05dbd765514d"),
        ("Twitch-Eventsub-Message-Type", "webhook_callback_verification"),
    ], ('{"challenge":"pogchamp-kappa-360noscope-vohiyo",' + TWITCH_SUBSCRIPTION % "webhook_callback_verification_pending" + "}").encode()),
    ("twitch-revocation", "twitch", 1573899072, "/", TWITCH_HEADERS + [
        ("Twitch-Eventsub-Message-Signature", "sha256=85b1613c6b3ee2cfcac402a6364e3adf88509a5d18d67c9521434deb6426a2f6"),
        ("Twitch-Eventsub-Message-Type", "revocation"),
    ], ("{" + TWITCH_SUBSCRIPTION % "authorization_revoked" + "}").encode()),
    ("paddle", "paddle", 1698796800, "/", [
        ("Paddle-Signature", "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9"),
    ], b'{"data": ["1", "2"]}'),
    ("paddle-multi", "paddle", 1698796800, "/", [
        ("Paddle-Signature", "ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h2=RANDOM_HASH"),
    ], b'{"data": "value"}'),
    ("gitlab", "gitlab", 0, "/", [
        ("X-Gitlab-Token", "glwt-example-secret-token"), ("X-Gitlab-Event", "Push Hook"),
        ("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e"),
    ], b'{"object_kind":"push","event_name":"push","ref":"refs/heads/master","user_id":4,"project_id":15,"total_commits_count":4}'),
    ("linear", "linear", 1677611643, "/", [
        ("Linear-Signature", "8790fcbbea809950be9198408593c2a13f7591bba6c61adb589f709b5e1b186a"),
        ("Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72"), ("Linear-Event", "Comment"),
    ], LINEAR_BODY),
    ("square", "square", 0, "/", [
        ("x-square-hmacsha256-signature", "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="),
    ], SQUARE_BODY),
    ("twilio", "twilio", 0, "/myapp.php?foo=1&bar=2", [
        ("X-Twilio-Signature", "L/OH5YylLD5NRKLltdqwSvS0BnU="),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ], TWILIO_FORM),
    ("twilio-json", "twilio", 0, "/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620", [
        ("X-Twilio-Signature", "a9nBmqA0ju/hNViExpshrM61xv4="),
    ], TWILIO_JSON),
    ("mailgun", "mailgun", 1403645220, "/", [], MAILGUN_BODY),
    ("sendgrid", "sendgrid", 1600112502, "/", [
        ("X-Twilio-Email-Event-Webhook-Signature", "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="),
        ("X-Twilio-Email-Event-Webhook-Timestamp", "1600112502"),
    ], SENDGRID_PY),
    ("intercom", "intercom", 0, "/", [
        ("X-Hub-Signature", "sha1=1c8e01fc955a95453053a770904f5d8b465c8406"), ("X-Intercom-Topic", "ping"),
    ], INTERCOM_PING),
    ("hmac", "hmac", 0, "/", [
        ("X-Webhook-Signature", "sha256=" + hex_hmac("generic-hmac-secret", GENERIC_BODY)),
        ("X-Webhook-Version", "1.0"),
    ], GENERIC_BODY),
    ("hmac-ts", "hmac-ts", 1700000000, "/", [
        ("X-Signature", base64.b64encode(bytes.fromhex(hex_hmac("generic-hmac-secret", b"1700000000", b".", GENERIC_BODY))).decode()),
        ("X-Timestamp", "1700000000"),
    ], GENERIC_BODY),
]

# Malformed headers that must be refused cleanly.
MALFORMED = [
    ("standard-empty-v1", "standard", 1614265330, "/", [
        ("webhook-id", "msg_1"), ("webhook-timestamp", "1614265330"), ("webhook-signature", "v1,"),
    ], b"{}"),
    ("stripe-many-tags", "stripe", 1533204620, "/", [
        ("Stripe-Signature", "t=1533204620" + ",v1=" + "0" * 64 * 1 + ",v1=zz" * 20),
    ], b"{}"),
    ("twitch-leap-second", "twitch", 1573899072, "/", [
        ("Twitch-Eventsub-Message-Id", "x"), ("Twitch-Eventsub-Message-Timestamp", "2016-12-31T23:59:60.5+01:00"),
        ("Twitch-Eventsub-Message-Signature", "sha256=" + "0" * 64),
    ], b"{}"),
    ("slack-huge-timestamp", "slack", 0, "/", [
        ("X-Slack-Signature", "v0=" + "a" * 64), ("X-Slack-Request-Timestamp", "99999999999999999999999"),
    ], b"{}"),
]

SIGNED_BODIES = {
    "slack": b'{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","token":"x"}',
    "zoom": b'{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}',
    "discord": b'{"id":"787053080478613555","token":"t","type":1,"version":1}',
    "linear": b'{"type":"Issue","action":"create","webhookTimestamp":1700000000000}',
    "twilio": b"MessageSid=SM1&MessageStatus=delivered&To=%2B15551234567",
    "sendgrid": b'[{"email":"a@b.c","event":"delivered","sg_event_id":"e1","timestamp":1700000000},{"event":"open","timestamp":1700000001}]',
    "mailgun": MAILGUN_EVENT.encode(),
}


def write(target, name, data):
    directory = os.path.join(SEEDS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    requests = {}
    for name, scheme, now, target, headers, body in VECTORS + MALFORMED:
        requests[name] = text(scheme, now, target, headers, body)
    schemes = sorted({v[1] for v in VECTORS})
    for scheme in schemes:
        body = SIGNED_BODIES.get(scheme, EVENT)
        requests[f"{scheme}-signed"] = text(scheme, 1700000000, "/hooks?x=1", [("webhook-id", "msg_2")], body, sign=True)

    for name, request in requests.items():
        write("verify", name, request)
        # stack: POST from an allowed peer with its true Content-Length.
        write("stack", name, bytes([0, 0, 1]) + request)
    # Through the trusted proxy, with the client in X-Forwarded-For.
    write("stack", "github-via-proxy", bytes([0, 1, 1]) + text("github", 0, "/", [
        ("X-Forwarded-For", "198.51.100.1, 192.0.2.77"),
    ], EVENT, sign=True))
    write("stack", "get", bytes([6, 0, 0]) + requests["github"])
    write("stack", "too-large", bytes([0, 0, 2]) + requests["github"])

    # envelope: the sender's conventions (selector 0), then generic ones.
    for name in ["stripe", "github", "shopify", "twilio", "sendgrid", "mailgun", "linear", "gitlab", "standard", "discord"]:
        write("envelope", name, bytes([0]) + struct.pack("<Q", 1700000001) + requests[name])
    generic = [
        ("json", 1, [("x-pointer-id", "/data/id"), ("x-pointer-type", "/data/type")],
         b'{"data":{"id":"a~b","type":"t","n":[1,2,{"x":null}]},"id":"top","type":"u"}'),
        ("form", 2, [("x-pointer-id", "/MessageSid"), ("x-pointer-type", "/MessageStatus")],
         b"MessageSid=SM1&MessageStatus=sent&Body=caf%C3%A9+%26+more"),
        ("batch", 3, [("x-pointer-id", "/sg_event_id"), ("x-pointer-type", "/event")], SIGNED_BODIES["sendgrid"]),
        ("signed", 4, [("x-signed-id", "evt_signed"), ("x-pointer-id", "/id"), ("x-pointer-type", "/type")], EVENT),
    ]
    for name, selector, headers, body in generic:
        write("envelope", name, bytes([selector]) + struct.pack("<Q", 1700000001) + text("hmac", 0, "/", headers, body))

    # client_ip: [source % 3, peer % 6, hops % 4] + one header value per line.
    client_ip = [
        ("xff", 0, 0, 3, b"198.51.100.1, 10.0.0.2"),
        ("xff-lines", 0, 1, 3, b"203.0.113.9:4711\n[2001:db8::2]:80, 192.0.2.1\n10.9.9.9"),
        ("xff-mapped", 0, 3, 1, b"::ffff:203.0.113.5"),
        ("forwarded", 1, 0, 3, b'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'),
        ("forwarded-quoted", 1, 2, 3, b'for="198.51.100.7";host="a;b,c", For=10.0.0.1'),
        ("forwarded-hidden", 1, 1, 2, b"for=_hidden, for=unknown"),
        ("real-ip", 2, 0, 3, b"198.51.100.23"),
        ("untrusted", 0, 4, 3, b"198.51.100.1"),
    ]
    for name, source, peer, hops, lines in client_ip:
        write("client_ip", name, bytes([source, peer, hops]) + lines)


if __name__ == "__main__":
    main()
