//! The background half: from the acknowledgement to your typed handler.
//!
//! * [`ack`]: [`Ack`](ack::Ack), the innermost service of the request path:
//!   answers handshakes and unknown events, and writes every other delivery
//!   to the inbox before it answers 202.
//! * [`inbox`]: the [`Inbox`](inbox::Inbox) trait and its backends: where
//!   an acknowledged delivery is kept (pending, leased, retrying, dead,
//!   done) until it is handled.
//! * [`dispatch`]: the [`Dispatcher`](dispatch::Dispatcher), workers that
//!   lease from the inbox, renew their leases, and record retries and dead
//!   letters in it.
//! * [`router`]: the [`EventRouter`](router::EventRouter), which picks the
//!   handler by type and version.
//! * [`event`]: [`Delivery`](event::Delivery) and [`Event<T>`](event::Event),
//!   what a handler receives.
//!
//! Each is also re-exported at the crate root (`hookwarden::inbox`, …).

pub mod ack;
pub mod dispatch;
pub mod event;
pub mod inbox;
pub mod router;
