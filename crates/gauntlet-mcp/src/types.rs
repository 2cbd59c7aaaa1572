//! What the client hands back: tools, resources, prompts, tool results, and how content
//! blocks are rendered as text.
//!
//! Rendering works on the JSON wire form of content blocks (`{"type": "text", ...}`), which
//! the MCP specification fixes, rather than on the SDK's Rust types, which change between
//! SDK releases.

use serde_json::Value;

/// A tool the server exposes (after the tools filter).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    /// Empty when the server gave none.
    pub description: String,
    /// The JSON Schema of the tool's arguments.
    pub input_schema: Value,
}

/// A resource the server lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    pub uri: String,
    pub name: String,
    pub mime_type: Option<String>,
}

/// A prompt the server offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptInfo {
    pub name: String,
    /// Empty when the server gave none.
    pub description: String,
    /// The names of its arguments, in the server's order.
    pub arguments: Vec<String>,
}

/// The outcome of a tool call that the server answered (a tool that failed is
/// `is_error: true`, not an `Err`).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// The tool reported failure (`isError`).
    pub is_error: bool,
    /// The text content blocks joined by `"\n"`; other blocks (images, audio, resources,
    /// resource links) appear as a one-line summary in brackets.
    pub text: String,
    /// `structuredContent`, when the tool returned some.
    pub structured: Option<Value>,
    /// The raw `content` array, as sent.
    pub content: Value,
}

impl ToolResult {
    /// Builds a result from the raw `content` array and the other fields.
    pub(crate) fn new(is_error: bool, content: Value, structured: Option<Value>) -> Self {
        let text = match &content {
            Value::Array(blocks) => render_blocks(blocks),
            _ => String::new(),
        };
        Self {
            is_error,
            text,
            structured,
            content,
        }
    }
}

/// Renders content blocks, one per line (see [`ToolResult::text`]).
pub(crate) fn render_blocks(blocks: &[Value]) -> String {
    blocks
        .iter()
        .map(render_block)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders one content block: its text, or a summary in brackets.
pub(crate) fn render_block(block: &Value) -> String {
    let field = |name: &str| block.get(name).and_then(Value::as_str);
    match field("type") {
        Some("text") => field("text").unwrap_or_default().to_owned(),
        Some(kind @ ("image" | "audio")) => format!(
            "[{kind}: {}, {}]",
            field("mimeType").unwrap_or("unknown type"),
            base64_size(field("data").unwrap_or_default())
        ),
        Some("resource") => match block.get("resource") {
            Some(resource) => render_resource_contents(resource),
            None => "[resource]".to_owned(),
        },
        Some("resource_link") => {
            let uri = field("uri").unwrap_or_default();
            match field("mimeType") {
                Some(mime) => format!("[resource link: {uri} ({mime})]"),
                None => format!("[resource link: {uri}]"),
            }
        }
        Some(other) => format!("[{other} content]"),
        None => "[content without type]".to_owned(),
    }
}

/// Renders one resource contents object (`resources/read` or an embedded resource): its
/// text, or a summary of its blob in brackets.
pub(crate) fn render_resource_contents(contents: &Value) -> String {
    let field = |name: &str| contents.get(name).and_then(Value::as_str);
    if let Some(text) = field("text") {
        return text.to_owned();
    }
    let uri = field("uri").unwrap_or_default();
    let mime = field("mimeType").unwrap_or("unknown type");
    match field("blob") {
        Some(blob) => format!("[blob {uri}: {mime}, {}]", base64_size(blob)),
        None => format!("[resource {uri}: {mime}]"),
    }
}

/// Renders prompt messages as `role: text` lines.
pub(crate) fn render_messages(messages: &[Value]) -> String {
    messages
        .iter()
        .map(|message| {
            let role = message
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let content = match message.get("content") {
                Some(Value::Array(blocks)) => render_blocks(blocks),
                Some(block) => render_block(block),
                None => String::new(),
            };
            format!("{role}: {content}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The decoded size of base64 data, for summaries.
fn base64_size(data: &str) -> String {
    let data = data.trim_end_matches('=');
    format!("{} bytes", data.len() * 3 / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_text_and_summarises_the_rest() {
        let content = json!([
            {"type": "text", "text": "Here is an image:"},
            {"type": "image", "mimeType": "image/png", "data": "AAAA"},
            {"type": "resource_link", "uri": "demo://x", "name": "x", "mimeType": "text/plain"},
            {"type": "resource", "resource": {"uri": "demo://t", "text": "embedded"}},
            {"type": "resource", "resource": {"uri": "demo://b", "mimeType": "application/gzip", "blob": "AAAAAA=="}},
            {"type": "audio", "data": "", "mimeType": "audio/wav"},
            {"type": "hologram"}
        ]);
        let result = ToolResult::new(false, content, None);
        assert_eq!(
            result.text,
            "Here is an image:\n[image: image/png, 3 bytes]\n[resource link: demo://x (text/plain)]\n\
             embedded\n[blob demo://b: application/gzip, 4 bytes]\n[audio: audio/wav, 0 bytes]\n\
             [hologram content]"
        );
    }

    #[test]
    fn renders_prompt_messages() {
        let messages = json!([
            {"role": "user", "content": {"type": "text", "text": "What's the weather?"}},
            {"role": "assistant", "content": {"type": "text", "text": "Sunny."}}
        ]);
        let Value::Array(messages) = messages else {
            return;
        };
        assert_eq!(
            render_messages(&messages),
            "user: What's the weather?\nassistant: Sunny."
        );
    }
}
