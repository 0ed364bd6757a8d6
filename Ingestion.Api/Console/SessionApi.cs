using Ingestion.Api.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Console;

/// <summary>The console's sign-in: an API key exchanged for a session cookie, so the page never holds the key.</summary>
public static class SessionApi
{
    /// <param name="ApiKey">A tenant's or an operator's key, as services send in <c>X-Api-Key</c>.</param>
    public sealed record SignIn(string? ApiKey);

    /// <param name="Tenant">The tenant the session acts for; null for an operator.</param>
    /// <param name="CsrfToken">Send it in <c>X-CSRF-Token</c> with every POST, PUT, PATCH and DELETE.</param>
    public sealed record SessionView(string? Tenant, bool IsOps, string CsrfToken, DateTimeOffset ExpiresAt);

    public static IEndpointRouteBuilder MapSessionApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/session").WithTags("Console session");
        // The key in the body signs in, not a cookie the browser may still hold from another tab.
        api.MapPost("/", SignInAsync).AllowAnonymous().WithMetadata(new CsrfExempt());
        var signedIn = new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder(SessionAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser().Build();
        api.MapGet("/", Current).RequireAuthorization(signedIn);
        api.MapDelete("/", SignOutAsync).RequireAuthorization(signedIn);
        return app;
    }

    /// <summary>Signs in: sets the <c>ingestion_session</c> cookie (HttpOnly, SameSite=Strict, Secure outside Development).</summary>
    public static async Task<Results<Ok<SessionView>, ProblemHttpResult>> SignInAsync(SignIn body, HttpContext context,
        ApiKeyDirectory keys, ConsoleSessions sessions, IHostEnvironment environment, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(body.ApiKey))
        {
            return TypedResults.Problem(statusCode: 400, title: "apiKey required",
                detail: "Send { \"apiKey\": \"…\" }: a tenant's or an operator's API key.");
        }

        if (keys.Find(body.ApiKey) is not { } caller)
        {
            return TypedResults.Problem(statusCode: 401, title: "Unknown API key", detail: "That key is not known to this service.");
        }

        // The cookie set below replaces the one presented (another tab's session): end that one, so
        // a copy of it kept elsewhere signs in nobody.
        if (context.Request.Cookies[SessionAuthenticationHandler.CookieName] is { Length: > 0 } presented)
        {
            await sessions.EndAsync(presented, cancellationToken);
        }

        var (token, session) = await sessions.OpenAsync(body.ApiKey, caller, cancellationToken);
        context.Response.Cookies.Append(SessionAuthenticationHandler.CookieName, token, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = !environment.IsDevelopment(),
            Path = "/",
            Expires = session.ExpiresAt,
            IsEssential = true,
        });
        NoStore(context);
        ClearCache(context);
        return TypedResults.Ok(View(session));
    }

    /// <summary>Who the session acts as, with its CSRF token: what a reloaded page needs to go on.</summary>
    public static Ok<SessionView> Current(HttpContext context)
    {
        NoStore(context);
        return TypedResults.Ok(View(context.Features.Get<ConsoleSession>()!));
    }

    /// <summary>Signs out: the session ends on the server, whichever copy of the cookie is presented later.</summary>
    public static async Task<NoContent> SignOutAsync(HttpContext context, ConsoleSessions sessions, IHostEnvironment environment,
        CancellationToken cancellationToken)
    {
        await sessions.EndAsync(context.Request.Cookies[SessionAuthenticationHandler.CookieName]!, cancellationToken);
        context.Response.Cookies.Delete(SessionAuthenticationHandler.CookieName, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = !environment.IsDevelopment(),
            Path = "/",
        });
        ClearCache(context);
        return TypedResults.NoContent();
    }

    private static SessionView View(ConsoleSession session) =>
        new(session.Caller.TenantId, session.Caller.IsOps, session.CsrfToken, session.ExpiresAt);

    // Reads the browser kept belong to whoever was signed in: the next one must not see them.
    private static void ClearCache(HttpContext context) => context.Response.Headers["Clear-Site-Data"] = "\"cache\"";

    // The body carries the CSRF token: no cache or proxy may keep it.
    private static void NoStore(HttpContext context) => context.Response.Headers.CacheControl = "no-store";
}
