using System.Security.Claims;

namespace Ingestion.Api.Security;

/// <summary>Who is calling: a tenant's service or an operator, named in audit records by <see cref="Actor"/>.</summary>
public sealed record Caller(string? TenantId, bool IsOps, string Actor)
{
    public const string TenantClaim = "ingestion:tenant";
    public const string ActorClaim = "ingestion:actor";
    public const string OpsRole = "ops";

    /// <summary>Whether this caller may see and act on a job of <paramref name="tenantId"/>.</summary>
    public bool CanAccess(string tenantId) => IsOps || TenantId == tenantId;

    public static Caller From(ClaimsPrincipal user) => new(
        user.FindFirstValue(TenantClaim),
        user.IsInRole(OpsRole),
        user.FindFirstValue(ActorClaim) ?? "unknown");

    public ClaimsPrincipal ToPrincipal(string scheme)
    {
        var claims = new List<Claim> { new(ActorClaim, Actor) };
        if (TenantId is not null)
        {
            claims.Add(new Claim(TenantClaim, TenantId));
        }

        if (IsOps)
        {
            claims.Add(new Claim(ClaimTypes.Role, OpsRole));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }
}
