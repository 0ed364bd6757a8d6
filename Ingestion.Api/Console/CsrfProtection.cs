using Ingestion.Api.Security;

namespace Ingestion.Api.Console;

/// <summary>
/// A request that changes state on the strength of the session cookie must also carry the
/// session's token in <see cref="Header"/>. Another site can make a browser send the cookie
/// (SameSite=Strict already stops most of that) but cannot read the token, which only the
/// console's own page receives from <c>/v1/session</c>. Requests with <c>X-Api-Key</c> are
/// not affected: no browser adds that header on its own. It runs after authorization, so it
/// judges the identity the endpoint was authorized with (see
/// <see cref="ConsoleExtensions.UseCsrfProtection"/>). Endpoints marked <see cref="CsrfExempt"/>
/// authenticate otherwise (the sign-in carries a key in its body) and are not checked.
/// </summary>
public sealed class CsrfProtection(RequestDelegate next, IProblemDetailsService problems)
{
    public const string Header = "X-CSRF-Token";

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.User.Identity?.AuthenticationType == SessionAuthenticationHandler.SchemeName
            && context.GetEndpoint()?.Metadata.GetMetadata<CsrfExempt>() is null
            && !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
                || HttpMethods.IsOptions(context.Request.Method) || HttpMethods.IsTrace(context.Request.Method))
            && !(context.Features.Get<ConsoleSession>() is { } session
                && context.Request.Headers[Header] is [{ } presented]
                && ConsoleSessions.IsCsrfTokenOf(presented, session.CsrfToken)))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status403Forbidden,
                    Title = "CSRF token missing or wrong",
                    Detail = $"A {context.Request.Method} signed in by the session cookie must send the session's csrfToken " +
                             $"(from GET /v1/session) in the {Header} header.",
                },
            });
            return;
        }

        await next(context);
    }
}

/// <summary>Endpoint metadata: the endpoint does not act on the strength of the session cookie, so <see cref="CsrfProtection"/> lets it be.</summary>
public sealed class CsrfExempt;
