namespace Ingestion.Platform.Tenancy;

/// <summary>
/// Who may call the service. Bound from the <c>Tenancy</c> section; keys are secrets and
/// belong in environment variables or a secret store, e.g.
/// <c>Tenancy__Tenants__0__Id=acme</c>, <c>Tenancy__Tenants__0__ApiKeys__0=…</c>.
/// </summary>
public sealed class TenancyOptions
{
    public const string Section = "Tenancy";

    public List<TenantOptions> Tenants { get; set; } = [];

    /// <summary>Keys of operators: they see and act on every tenant's jobs.</summary>
    public List<string> OpsKeys { get; set; } = [];
}

public sealed class TenantOptions
{
    /// <summary>Lower-case letters, digits and underscores; names the tenant's PostgreSQL schema.</summary>
    public string Id { get; set; } = "";

    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Signs the tenant's webhooks.</summary>
    public string? WebhookSecret { get; set; }
}
