//! Watch streams: newline-delimited JSON events, as upstream's watch encoder writes them.
//!
//! A watch without a resourceVersion (or with "0") first sends the current objects as ADDED
//! events, then follows changes; with one it follows changes after it. Selectors apply to both
//! the old and new object, so an object leaving the selection arrives as DELETED and one
//! entering it as ADDED. A start older than the retained history gets a 410 ERROR event.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bosun_api::table::{self, IncludeObject};
use bosun_api::{ApiError, ResourceDef, meta};
use bosun_store::{EventKind, KeyRange, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::negotiate::Output;
use crate::registry::{ListQuery, Registry, from_kv, store_error};

/// Options of one watch.
pub(crate) struct WatchRequest {
    pub def: Arc<ResourceDef>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub query: ListQuery,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub output: Output,
}

fn encode(kind: &str, obj: &Value, def: &ResourceDef, output: Output) -> Bytes {
    let object = match output {
        Output::Table => table::table(def, vec![obj.clone()], IncludeObject::Metadata, json!({})),
        Output::Metadata => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
        }
        _ => obj.clone(),
    };
    let mut line = serde_json::to_vec(&meta::object([("type", json!(kind)), ("object", object)]))
        .unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(def: &ResourceDef, revision: i64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": metadata});
    let mut line =
        serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn error_event(e: &ApiError) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Starts a watch and answers with its stream.
pub(crate) async fn serve(registry: Registry, w: WatchRequest) -> Result<Response<Body>, ApiError> {
    let def = w.def.clone();
    let ns = w.namespace.as_deref();
    let matches = {
        let q = w.query.clone();
        move |obj: &Value| q.labels.matches(meta::labels(obj)) && q.fields.matches(obj)
    };
    let rv = w
        .query
        .resource_version
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "0");
    let mut initial = Vec::new();
    let start = match rv {
        Some(rv) if !w.send_initial_events => {
            rv.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?
                + 1
        }
        _ => {
            let list_query = ListQuery {
                limit: None,
                continue_token: None,
                ..w.query.clone()
            };
            let page = registry.list(&def, ns, &list_query).await?;
            initial = page
                .items
                .into_iter()
                .filter(|o| w.name.is_none() || meta::name(o) == w.name.as_deref())
                .collect();
            page.revision + 1
        }
    };
    let range = match &w.name {
        Some(name) => KeyRange::Key(def.key(ns, name)),
        None => KeyRange::Prefix(def.prefix(ns)),
    };
    let cached = registry
        .cache
        .watch(&def.prefix(None), range.clone(), start)
        .await;
    let events = match cached {
        Some(events) => Ok(events),
        None => registry.store.watch(range, Some(start)).await,
    }
    .map_err(|e| store_error(&def, "", e))?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(256);
    let output = w.output;
    tokio::spawn(async move {
        for obj in &initial {
            if tx
                .send(Ok(encode("ADDED", obj, &def, output)))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut last_revision = start - 1;
        if w.send_initial_events
            && tx
                .send(Ok(bookmark(&def, last_revision, true)))
                .await
                .is_err()
        {
            return;
        }
        let deadline = tokio::time::sleep(w.timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval(Duration::from_secs(60));
        bookmarks.tick().await;
        let mut events = events;
        loop {
            let item = tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = bookmarks.tick(), if w.bookmarks => {
                    if tx.send(Ok(bookmark(&def, last_revision, false))).await.is_err() {
                        return;
                    }
                    continue;
                }
                item = events.next() => item,
            };
            let event = match item {
                Some(Ok(e)) => e,
                Some(Err(StoreError::Compacted { requested })) => {
                    let e = ApiError::expired(format!(
                        "too old resource version: {} ({})",
                        requested - 1,
                        last_revision
                    ));
                    let _ = tx.send(Ok(error_event(&e))).await;
                    return;
                }
                Some(Err(e)) => {
                    let _ = tx
                        .send(Ok(error_event(&ApiError::internal(e.to_string()))))
                        .await;
                    return;
                }
                None => return,
            };
            last_revision = event.revision();
            let decoded = match event.kind {
                EventKind::Put => from_kv(&def, &event.kv).map(|new| {
                    (
                        Some(new),
                        event.prev.as_ref().and_then(|p| from_kv(&def, p).ok()),
                    )
                }),
                EventKind::Delete => Ok((
                    None,
                    event.prev.as_ref().and_then(|p| from_kv(&def, p).ok()),
                )),
                EventKind::Progress => continue,
            };
            let (new, old) = match decoded {
                Ok(pair) => pair,
                Err(e) => {
                    let _ = tx.send(Ok(error_event(&e))).await;
                    return;
                }
            };
            let old_match = old.as_ref().is_some_and(&matches);
            let line = match (new, old) {
                (Some(new), _) => match (old_match, matches(&new)) {
                    (true, true) => Some(encode("MODIFIED", &new, &def, output)),
                    (false, true) => Some(encode("ADDED", &new, &def, output)),
                    (true, false) => Some(encode("DELETED", &new, &def, output)),
                    (false, false) => None,
                },
                (None, Some(mut old)) if old_match => {
                    meta::set_resource_version(&mut old, event.revision());
                    Some(encode("DELETED", &old, &def, output))
                }
                _ => None,
            };
            if let Some(line) = line
                && tx.send(Ok(line)).await.is_err()
            {
                return;
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
