//! The console's view of a game's webhooks: each endpoint with its recent
//! deliveries, so support can see whether the game's server is receiving them.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Console, PathParams};
use crate::domain::webhooks;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::webhooks::{DeliveryResponse, EndpointResponse};
use crate::state::AppState;

/// Deliveries shown per endpoint.
const RECENT: u32 = 10;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(game_webhooks))
}

/// An endpoint and its latest deliveries.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleWebhook {
    /// The endpoint (no secret).
    #[serde(flatten)]
    pub endpoint: EndpointResponse,
    /// Newest first, at most 10.
    pub recent: Vec<DeliveryResponse>,
}

/// A game's endpoints.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleWebhookList {
    /// Oldest endpoint first.
    pub webhooks: Vec<ConsoleWebhook>,
}

/// A game's webhook endpoints with their recent deliveries and attempts.
#[utoipa::path(get, path = "/console/api/games/{clientID}/webhooks", tag = "console",
    security(("console_session" = [])),
    params(("clientID" = String, Path, description = "Game")),
    responses((status = 200, description = "Endpoints and recent deliveries", body = ConsoleWebhookList),
              (status = 404, description = "Unknown game", body = ErrorBody)))]
pub async fn game_webhooks(
    State(state): State<AppState>,
    console: Console,
    PathParams(client_id): PathParams<String>,
) -> ApiResult<axum::Json<ConsoleWebhookList>> {
    console.game(&state, &client_id).await?;
    let mut list = Vec::new();
    for endpoint in webhooks::list(&state.db, &client_id).await? {
        let (recent, _) = webhooks::list_deliveries(
            &state.db,
            &state.keys.cursors,
            &client_id,
            &endpoint.id,
            None,
            RECENT,
            None,
        )
        .await?;
        list.push(ConsoleWebhook {
            endpoint: EndpointResponse::new(endpoint, false),
            recent: recent.into_iter().map(DeliveryResponse::from).collect(),
        });
    }
    Ok(axum::Json(ConsoleWebhookList { webhooks: list }))
}
