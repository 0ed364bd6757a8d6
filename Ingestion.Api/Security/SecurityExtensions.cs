using Microsoft.AspNetCore.Authentication;

namespace Ingestion.Api.Security;

public static class SecurityExtensions
{
    public const string TenantPolicy = "tenant";
    public const string OpsPolicy = "ops";

    public static IHostApplicationBuilder AddIngestionSecurity(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ApiKeyDirectory>();
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build())
            .AddPolicy(TenantPolicy, policy => policy.RequireClaim(Caller.TenantClaim))
            .AddPolicy(OpsPolicy, policy => policy.RequireRole(Caller.OpsRole));
        return builder;
    }
}
