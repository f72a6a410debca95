// Swagger UI for the API's OpenAPI document. It lives in a file of its own because the
// site's Content-Security-Policy allows no inline script.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // By default the page sends the document to validator.swagger.io for a badge.
    validatorUrl: null,
    // A pasted token stays in this page's memory, never in localStorage.
    persistAuthorization: false,
  });
});
