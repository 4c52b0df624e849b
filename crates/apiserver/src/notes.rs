//! What a request's handling wants to tell beyond its answer: warnings for the client
//! (`Warning` headers) and annotations for its audit event. Plugins deep in the write path add
//! them without threading them through every call, as upstream does through the request's
//! context (`warning.AddWarning`, `audit.AddAuditAnnotation`).

use std::sync::{Arc, Mutex};

/// The notes gathered while one request was handled.
#[derive(Debug, Default, Clone)]
pub struct Notes {
    /// Client warnings, each once, in the order given.
    pub warnings: Vec<String>,
    /// Audit annotations, in the order given.
    pub audit_annotations: Vec<(String, String)>,
}

tokio::task_local! {
    static NOTES: Arc<Mutex<Notes>>;
}

/// Runs `handling` with a fresh set of notes, returning its output and the notes it gathered.
pub async fn scope<F: std::future::Future>(handling: F) -> (F::Output, Notes) {
    let notes = Arc::new(Mutex::new(Notes::default()));
    let output = NOTES.scope(notes.clone(), handling).await;
    let gathered = notes.lock().expect("request notes").clone();
    (output, gathered)
}

/// Adds a warning for the client (outside a request, it is dropped).
pub fn warn(text: impl Into<String>) {
    let text = text.into();
    let _ = NOTES.try_with(|notes| {
        let mut notes = notes.lock().expect("request notes");
        if !notes.warnings.contains(&text) {
            notes.warnings.push(text);
        }
    });
}

/// Adds an annotation to the request's audit event.
pub fn annotate(key: impl Into<String>, value: impl Into<String>) {
    let entry = (key.into(), value.into());
    let _ = NOTES.try_with(|notes| {
        notes
            .lock()
            .expect("request notes")
            .audit_annotations
            .push(entry)
    });
}

/// The audit annotations gathered so far.
pub fn audit_annotations() -> Vec<(String, String)> {
    NOTES
        .try_with(|notes| {
            notes
                .lock()
                .expect("request notes")
                .audit_annotations
                .clone()
        })
        .unwrap_or_default()
}
