//! Typed Stripe webhooks with one serde-tagged enum for the whole provider.
//!
//! ```sh
//! cargo run --example stripe -- --secret whsec_…
//! ```
//!
//! Stripe's `type` picks the variant; event types this receiver does not
//! model land in `Other` and are acknowledged without work. Stripe signs
//! `t.body`, so stale deliveries (older than the tolerance) are refused.

mod common;

use hookwarden::Receiver;
use hookwarden::event::Event;
use hookwarden::router::EventRouter;
use hookwarden::scheme::Stripe;
use serde::Deserialize;

use common::Args;

const USAGE: &str = "usage: cargo run --example stripe -- --secret whsec_… [--listen ADDR]";

/// The Stripe events this receiver handles, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum StripeEvent {
    #[serde(rename = "customer.created")]
    CustomerCreated { data: Data<Customer> },
    #[serde(rename = "invoice.paid")]
    InvoicePaid { data: Data<Invoice> },
    #[serde(rename = "payment_intent.payment_failed")]
    PaymentFailed { data: Data<PaymentIntent> },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct Data<T> {
    object: T,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: String,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Invoice {
    id: String,
    amount_paid: i64,
    currency: String,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    last_payment_error: Option<serde_json::Value>,
}

async fn on_stripe(event: Event<StripeEvent>) -> Result<(), String> {
    match event.payload() {
        StripeEvent::CustomerCreated { data } => {
            println!(
                "new customer {} <{}>",
                data.object.id,
                data.object.email.as_deref().unwrap_or("-")
            );
        }
        StripeEvent::InvoicePaid { data } => {
            let invoice = &data.object;
            println!("invoice {} paid: {} {}", invoice.id, invoice.amount_paid, invoice.currency);
        }
        StripeEvent::PaymentFailed { data } => {
            println!("payment {} failed: {:?}", data.object.id, data.object.last_payment_error);
        }
        StripeEvent::Other => {
            eprintln!(
                "{} ({}, API {}) not modelled here",
                event.event_type(),
                event.id(),
                event.version()
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging("info");
    let args = Args::parse(&["secret", "listen"], &[], USAGE);
    let secrets = args.all("secret");
    if secrets.is_empty() {
        common::fail(USAGE, "--secret is required: the endpoint's signing secret (whsec_…)");
    }
    let receiver = Receiver::builder(Stripe::new(&secrets)?)
        .router(EventRouter::new().catch_all(on_stripe))
        .build()?;

    let listen = args.get("listen").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    common::serve(&receiver, "/webhooks/stripe", &listen).await?;
    Ok(())
}
