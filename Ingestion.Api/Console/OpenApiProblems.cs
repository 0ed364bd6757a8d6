using Ingestion.Api.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Ingestion.Api.Console;

/// <summary>
/// What the handlers' typed results do not say in the OpenAPI document (and so in the API
/// reference): how a caller signs (key or session), and the RFC 9457 problem responses every
/// endpoint can give, with the problem's shape.
/// </summary>
public static class OpenApiProblems
{
    private const string ProblemSchema = "Problem";
    private const string ProblemType = "application/problem+json";

    public static OpenApiOptions AddProblemResponses(this OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            document.Components.Schemas[ProblemSchema] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "An RFC 9457 problem: title says what kind of error, detail what was wrong with this request.",
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
                    ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String },
                    ["errors"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Description = "Validation problems only: the messages of each invalid field.",
                    },
                },
            };
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[ApiKeyAuthenticationHandler.SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = ApiKeyAuthenticationHandler.Header,
                Description = "A tenant's key (its datasets and jobs) or an operator's key (every tenant's jobs, /v1/ops).",
            };
            document.Components.SecuritySchemes[SessionAuthenticationHandler.SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Cookie,
                Name = SessionAuthenticationHandler.CookieName,
                Description = $"The console's session (POST /v1/session). POST, PUT, PATCH and DELETE also need its csrfToken in {CsrfProtection.Header}.",
            };
            return Task.CompletedTask;
        });

        options.AddOperationTransformer((operation, context, _) =>
        {
            var document = context.Document;
            operation.Responses ??= new OpenApiResponses();
            void Add(string status, string description) => operation.Responses.TryAdd(status, new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    [ProblemType] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, document) },
                },
            });

            if (!context.Description.ActionDescriptor.EndpointMetadata.OfType<IAllowAnonymous>().Any())
            {
                operation.Security =
                [
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, document)] = [] },
                    new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SessionAuthenticationHandler.SchemeName, document)] = [] },
                ];
                Add("401", "No key or session, an unknown key, or a session that expired or was ended.");
                Add("403", "Not allowed for this caller (an operators' endpoint, or a tenant's one for an operator), " +
                           $"or a session's change without its {CsrfProtection.Header}.");
            }

            if (operation.Parameters is { Count: > 0 } || operation.RequestBody is not null)
            {
                Add("400", "A parameter or the body is invalid: the detail names which and why.");
            }

            if (context.Description.RelativePath?.Contains('{', StringComparison.Ordinal) == true)
            {
                Add("404", "Not found for this caller (another tenant's resource counts as none).");
            }

            Add("default", "Any other error, as a problem: 409 conflicts, 413 too large, 415 not CSV, 429 over a limit, 503 a dependency down.");
            return Task.CompletedTask;
        });
        return options;
    }
}
