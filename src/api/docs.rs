//! The API's own description: the OpenAPI 3.1 document as JSON, and a reference page
//! made from that same document (server-rendered, no script), so what people read
//! is what the router serves.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::app::AppState;
use crate::web::{Chrome, Page};

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta",
    operation_id = "openapi_document",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    match super::openapi().to_json() {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            json,
        )
            .into_response(),
        Err(e) => crate::web::WebError::Internal(format!("openapi: {e}")).into_response(),
    }
}

/// This reference, as a web page.
#[utoipa::path(
    get, path = "/api/v1/docs", tag = "meta",
    operation_id = "api_reference",
    responses((status = 200, description = "The reference as HTML", content_type = "text/html", body = String))
)]
pub async fn reference(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = Page::new(&state, &headers);
    let document = serde_json::to_value(super::openapi()).unwrap_or(Value::Null);
    let view = Reference::of(&document, &page.chrome);
    page.render(StatusCode::OK, &view)
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct Reference<'a> {
    chrome: &'a Chrome,
    title: String,
    version: String,
    description: String,
    scheme: String,
    sections: Vec<Section>,
    schemas: Vec<SchemaView>,
}

struct Section {
    tag: String,
    description: String,
    operations: Vec<OperationView>,
}

struct OperationView {
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    authenticated: bool,
    parameters: Vec<ParameterView>,
    request: Option<BodyView>,
    responses: Vec<ResponseView>,
}

struct ParameterView {
    name: String,
    location: String,
    required: bool,
    kind: TypeText,
    description: String,
}

struct BodyView {
    content_type: String,
    kind: TypeText,
    example: Option<String>,
}

struct ResponseView {
    status: String,
    description: String,
    bodies: Vec<(String, TypeText)>,
}

struct SchemaView {
    name: String,
    description: String,
    fields: Vec<FieldView>,
    example: Option<String>,
}

struct FieldView {
    name: String,
    kind: TypeText,
    required: bool,
    description: String,
}

/// A type as words, with the schema it names (if any) to link to.
struct TypeText {
    text: String,
    link: Option<String>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn ref_name(v: &Value) -> Option<String> {
    v.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_string)
}

/// `string`, `integer | null`, `array of User`, `map of string`, `User`.
fn type_text(schema: &Value) -> TypeText {
    if let Some(name) = ref_name(schema) {
        return TypeText {
            link: Some(name.clone()),
            text: name,
        };
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            let named: Vec<TypeText> = parts.iter().map(type_text).collect();
            let link = named.iter().find_map(|t| t.link.clone());
            let words: Vec<String> = named.into_iter().map(|t| t.text).collect();
            let sep = if key == "allOf" { " & " } else { " | " };
            return TypeText {
                text: words.join(sep),
                link,
            };
        }
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    };
    let mut link = None;
    let words: Vec<String> = types
        .iter()
        .map(|t| match t.as_str() {
            "array" => {
                let inner = type_text(schema.get("items").unwrap_or(&Value::Null));
                link = inner.link;
                format!("array of {}", inner.text)
            }
            "object" => match schema.get("additionalProperties") {
                Some(Value::Object(_)) => {
                    let inner = type_text(&schema["additionalProperties"]);
                    link = inner.link;
                    format!("map of {}", inner.text)
                }
                _ => "object".into(),
            },
            "integer" | "number" => match schema.get("format").and_then(Value::as_str) {
                Some(f) => format!("{t} ({f})"),
                None => t.clone(),
            },
            other => other.to_string(),
        })
        .collect();
    TypeText {
        text: if words.is_empty() {
            "any".into()
        } else {
            words.join(" | ")
        },
        link,
    }
}

fn pretty(v: Option<&Value>) -> Option<String> {
    v.filter(|v| !v.is_null())
        .and_then(|v| serde_json::to_string_pretty(v).ok())
}

/// The properties of a schema, including those it takes from `allOf` parts.
fn fields_of(schema: &Value, components: &Value, out: &mut Vec<FieldView>) {
    if let Some(name) = ref_name(schema) {
        if let Some(target) = components.get(&name) {
            fields_of(target, components, out);
        }
        return;
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            fields_of(part, components, out);
        }
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.push(FieldView {
                name: name.clone(),
                kind: type_text(prop),
                required: required.contains(&name.as_str()),
                description: text(prop, "description"),
            });
        }
    }
}

impl<'a> Reference<'a> {
    fn of(doc: &Value, chrome: &'a Chrome) -> Reference<'a> {
        let components = &doc["components"]["schemas"];
        let mut sections: Vec<Section> = doc["tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .map(|t| Section {
                        tag: text(t, "name"),
                        description: text(t, "description"),
                        operations: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut paths: Vec<(&String, &Value)> = doc["paths"]
            .as_object()
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        paths.sort_by_key(|(p, _)| p.as_str());
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let tag = op["tags"][0].as_str().unwrap_or("other").to_string();
                let view = operation_view(method, path, op);
                match sections.iter_mut().find(|s| s.tag == tag) {
                    Some(s) => s.operations.push(view),
                    None => sections.push(Section {
                        tag,
                        description: String::new(),
                        operations: vec![view],
                    }),
                }
            }
        }
        sections.retain(|s| !s.operations.is_empty());
        let schemas = components
            .as_object()
            .map(|all| {
                all.iter()
                    .map(|(name, schema)| {
                        let mut fields = Vec::new();
                        fields_of(schema, components, &mut fields);
                        SchemaView {
                            name: name.clone(),
                            description: text(schema, "description"),
                            fields,
                            example: pretty(
                                schema
                                    .get("example")
                                    .or(schema.get("examples").and_then(|e| e.get(0))),
                            ),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let scheme = &doc["components"]["securitySchemes"][super::API_KEY_SCHEME];
        Reference {
            chrome,
            title: text(&doc["info"], "title"),
            version: text(&doc["info"], "version"),
            description: text(&doc["info"], "description"),
            scheme: format!(
                "{} {} ({})",
                text(scheme, "type"),
                text(scheme, "scheme"),
                text(scheme, "bearerFormat")
            ),
            sections,
            schemas,
        }
    }
}

fn operation_view(method: &str, path: &str, op: &Value) -> OperationView {
    let parameters = op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| ParameterView {
                    name: text(p, "name"),
                    location: text(p, "in"),
                    required: p["required"].as_bool().unwrap_or(false),
                    kind: type_text(&p["schema"]),
                    description: text(p, "description"),
                })
                .collect()
        })
        .unwrap_or_default();
    let request = op["requestBody"]["content"].as_object().and_then(|c| {
        c.iter().next().map(|(ctype, media)| BodyView {
            content_type: ctype.clone(),
            kind: type_text(&media["schema"]),
            example: pretty(media.get("example")),
        })
    });
    let responses = op["responses"]
        .as_object()
        .map(|rs| {
            rs.iter()
                .map(|(status, r)| ResponseView {
                    status: status.clone(),
                    description: text(r, "description"),
                    bodies: r["content"]
                        .as_object()
                        .map(|c| {
                            c.iter()
                                .map(|(ctype, media)| (ctype.clone(), type_text(&media["schema"])))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    OperationView {
        anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
        method: method.to_uppercase(),
        path: path.to_string(),
        summary: text(op, "summary"),
        description: text(op, "description"),
        authenticated: op.get("security").is_some(),
        parameters,
        request,
        responses,
    }
}
