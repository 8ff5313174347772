//! The suite against [`MemoryInbox`].

use std::sync::Arc;

use hookwarden::inbox::{Inbox, MemoryInbox};

use crate::suite::Make;

fn make() -> Option<Make> {
    Some(Arc::new(|options| {
        Box::pin(async move {
            let inbox =
                MemoryInbox::builder().capacity(options.capacity).retain(options.retain).build();
            Arc::new(inbox) as Arc<dyn Inbox>
        })
    }))
}

inbox_suite!(make());
