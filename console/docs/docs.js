// Starts Swagger UI on this server's /openapi.json (a file of its own: the page's
// Content-Security-Policy allows no inline script).

/**
 * Try-it-out of a console change (POST/PUT/DELETE under /console/api/, login
 * aside) needs the session's CSRF header: read it from /console/api/session,
 * which the console's cookie (sent by the browser) opens.
 */
async function addConsoleCsrf(request) {
  const url = new URL(request.url, window.location.origin);
  const change = !["GET", "HEAD", "OPTIONS"].includes(String(request.method).toUpperCase());
  if (url.origin !== window.location.origin || !url.pathname.startsWith("/console/api/") || !change || url.pathname === "/console/api/login") {
    return request;
  }
  const session = await fetch("/console/api/session", { credentials: "same-origin" });
  if (session.ok) {
    request.headers["x-csrf-token"] = (await session.json()).csrfToken;
  }
  return request;
}

window.addEventListener("DOMContentLoaded", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    filter: true,
    persistAuthorization: false,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: addConsoleCsrf,
  });
});
