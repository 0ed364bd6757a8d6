using Microsoft.AspNetCore.Authentication;

namespace Ingestion.Api.Security;

public static class SecurityExtensions
{
    public const string TenantPolicy = "tenant";
    public const string OpsPolicy = "ops";

    /// <summary>Either credential, chosen per request: services send <c>X-Api-Key</c>, the console its session cookie.</summary>
    public const string KeyOrSessionScheme = "KeyOrSession";

    public static IHostApplicationBuilder AddIngestionSecurity(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ApiKeyDirectory>();
        builder.Services.AddAuthentication(KeyOrSessionScheme)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, SessionAuthenticationHandler>(SessionAuthenticationHandler.SchemeName,
                // A session has its caller's rights exactly: the key handler's 403 says which.
                options => options.ForwardForbid = ApiKeyAuthenticationHandler.SchemeName)
            .AddPolicyScheme(KeyOrSessionScheme, null, options => options.ForwardDefaultSelector = context =>
                // A key, when sent, decides alone: a service never acts as whoever is signed in.
                !context.Request.Headers.ContainsKey(ApiKeyAuthenticationHandler.Header)
                && context.Request.Cookies.ContainsKey(SessionAuthenticationHandler.CookieName)
                    ? SessionAuthenticationHandler.SchemeName
                    : ApiKeyAuthenticationHandler.SchemeName);
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(TenantPolicy, policy => policy.RequireClaim(Caller.TenantClaim))
            .AddPolicy(OpsPolicy, policy => policy.RequireRole(Caller.OpsRole));
        return builder;
    }
}
