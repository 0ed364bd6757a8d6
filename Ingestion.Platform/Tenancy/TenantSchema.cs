using Ingestion.Platform.Datasets;

namespace Ingestion.Platform.Tenancy;

/// <summary>Each tenant's datasets live in a PostgreSQL schema of its own.</summary>
public static class TenantSchema
{
    public static string NameOf(string tenantId)
    {
        if (!Identifier.IsValid(tenantId, Identifier.MaxTenantLength))
        {
            throw new ArgumentException($"'{tenantId}' is not a valid tenant id.", nameof(tenantId));
        }

        return "tenant_" + tenantId;
    }

    /// <summary>The quoted, schema-qualified name of a tenant's table.</summary>
    public static string QualifiedTable(string tenantId, string table) =>
        $"{Identifier.Quote(NameOf(tenantId))}.{Identifier.Quote(table)}";
}
