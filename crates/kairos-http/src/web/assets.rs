//! Static files compiled into the binary: our stylesheet and script, and the npm
//! libraries build.rs fetched (htmx, ECharts, SortableJS).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! vendored {
    ($file:literal) => {
        include_bytes!(concat!(env!("KAIROS_NODE_MODULES"), "/", $file)).as_slice()
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// (URL name, content type, bytes).
const FILES: [(&str, &str, &[u8]); 5] = [
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css")),
    ("app.js", JS, include_bytes!("../../assets/app.js")),
    ("htmx.min.js", JS, vendored!("htmx.org/dist/htmx.min.js")),
    ("echarts.min.js", JS, vendored!("echarts/dist/echarts.min.js")),
    ("sortable.min.js", JS, vendored!("sortablejs/Sortable.min.js")),
];

pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "Not found").into_response(),
    }
}

pub fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}
