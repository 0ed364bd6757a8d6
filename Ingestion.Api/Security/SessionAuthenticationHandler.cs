using System.Text.Encodings.Web;
using Ingestion.Api.Console;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Security;

/// <summary>
/// Authenticates the web console's session cookie (<see cref="CookieName"/>), which
/// <c>POST /v1/session</c> issues in exchange for an API key. The session acts as that key's
/// caller. Its CSRF token is kept on the request for <see cref="CsrfProtection"/>.
/// </summary>
public sealed class SessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ConsoleSessions sessions,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Session";
    public const string CookieName = "ingestion_session";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Cookies.TryGetValue(CookieName, out var token) || string.IsNullOrEmpty(token))
        {
            return AuthenticateResult.NoResult();
        }

        if (await sessions.FindAsync(token, Context.RequestAborted) is not { } session)
        {
            return AuthenticateResult.Fail("The session has expired or was ended.");
        }

        Context.Features.Set(session);
        return AuthenticateResult.Success(new AuthenticationTicket(session.Caller.ToPrincipal(SchemeName), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = $"{SchemeName} cookie=\"{CookieName}\"";
        var presented = Request.Cookies.ContainsKey(CookieName);
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = presented ? "Session expired" : "Not signed in",
                Detail = presented
                    ? "Your session has expired or was ended: sign in again."
                    : "Sign in first: POST your API key to /v1/session.",
            },
        });
    }
}
