namespace Ingestion.Tests.Infrastructure;

/// <summary>The callers configured for the hosts under test.</summary>
public static class Keys
{
    public const string Acme = "test-acme-key-00000000001";
    public const string Globex = "test-globex-key-0000000001";
    public const string Ops = "test-ops-key-000000000001";

    /// <summary>Seals sources' secrets in the hosts under test (32 bytes, base64).</summary>
    public const string SourcesSecretKey = "dGVzdC1vbmx5LXNvdXJjZXMta2V5LTMyLWJ5dGVzISE=";

    public static IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("Tenancy__Tenants__0__Id", "acme"),
        new("Tenancy__Tenants__0__ApiKeys__0", Acme),
        new("Tenancy__Tenants__0__WebhookSecret", "acme-webhook-secret-for-tests"),
        new("Tenancy__Tenants__1__Id", "globex"),
        new("Tenancy__Tenants__1__ApiKeys__0", Globex),
        new("Tenancy__Tenants__1__WebhookSecret", "globex-webhook-secret-for-tests"),
        new("Tenancy__OpsKeys__0", Ops),
        new("Sources__SecretKey", SourcesSecretKey),
    ];
}
