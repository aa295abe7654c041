//! Documents attached to opportunities (需求确认单, 方案认可函 …): stored as files under the
//! data directory, one folder per workspace; the database keeps their metadata.

use kairos_domain::ids::DocumentId;
use kairos_domain::text;
use kairos_store::opportunity::{self as store, Document};

use crate::actor::Actor;
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::opportunities::parse_opportunity_id;

pub struct Upload {
    pub doc_type: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl App {
    pub async fn upload_document(&self, actor: &Actor, id: &str, upload: Upload) -> AppResult<Document> {
        let id = parse_opportunity_id(id)?;
        let ws = actor.workspace();
        let mut errors = kairos_domain::FieldErrors::new();
        let doc_type = errors.check("doc_type", text::required_text(&upload.doc_type, 50));
        // Only the last path segment of a browser-sent name, and nothing that could walk
        // out of the folder (the stored name is the id anyway; this one is for display).
        let file_name = upload.file_name.rsplit(['/', '\\']).next().unwrap_or("").trim().to_string();
        let file_name = errors.check("file", text::required_text(&file_name, 200));
        if upload.bytes.is_empty() {
            errors.add("file", "is empty");
        }
        if upload.bytes.len() > self.config.max_document_bytes {
            errors.add("file", format!("is larger than {} MiB", self.config.max_document_bytes / 1024 / 1024));
        }
        errors.finish()?;
        let (Some(doc_type), Some(file_name)) = (doc_type, file_name) else { return Err(AppError::internal("validated input lost a value")) };
        {
            let mut conn = self.store.read().await?;
            store::find_opportunity(&mut conn.conn(), ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
        }
        let doc_id = DocumentId::from_uuid(self.mint());
        let folder = self.config.data_dir.join("documents").join(ws.to_string());
        tokio::fs::create_dir_all(&folder).await.map_err(AppError::unexpected)?;
        let path = folder.join(doc_id.to_string());
        tokio::fs::write(&path, &upload.bytes).await.map_err(AppError::unexpected)?;
        let document = Document {
            id: doc_id.to_string(),
            doc_type,
            file_name,
            content_type: if upload.content_type.is_empty() { "application/octet-stream".into() } else { upload.content_type },
            size_bytes: upload.bytes.len() as i64,
            storage_key: format!("documents/{ws}/{doc_id}"),
            uploaded_by: actor.id().to_string(),
            uploaded_at: self.now(),
        };
        let written = async {
            let mut tx = self.begin().await?;
            let mut c = tx.conn();
            // Re-read under the write lock: the deal may have been archived or moved out
            // of scope while the file was being written.
            store::find_opportunity(&mut c, ws, &actor.scope, id).await?.ok_or(AppError::NotFound { entity: "opportunity" })?;
            store::insert_document(&mut c, ws, id, &document).await?;
            let change = [kairos_domain::audit::FieldChange { field: "document".into(), old_value: None, new_value: Some(format!("{}: {}", document.doc_type, document.file_name)) }];
            self.audit(&mut c, Some(actor), "opportunity", id.to_string(), "attach", &change).await?;
            drop(c);
            tx.commit().await?;
            Ok::<(), AppError>(())
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e);
        }
        Ok(document)
    }

    /// The document's metadata and content, if the caller may see its opportunity.
    pub async fn download_document(&self, actor: &Actor, id: &str, doc: &str) -> AppResult<(Document, Vec<u8>)> {
        let id = parse_opportunity_id(id)?;
        let docs = self.documents(actor, &id.to_string()).await?;
        let document = docs.into_iter().find(|d| d.id == doc).ok_or(AppError::NotFound { entity: "document" })?;
        let bytes = tokio::fs::read(self.config.data_dir.join(&document.storage_key)).await.map_err(AppError::unexpected)?;
        Ok((document, bytes))
    }
}
