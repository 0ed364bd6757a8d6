using Ingestion.Platform.Database;
using Ingestion.Platform.Datasets;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Platform.Tenancy;

/// <summary>At start-up, every configured tenant gets its schema and built-in datasets.</summary>
internal sealed class TenantProvisioning(IOptions<TenancyOptions> options) : IStartupDatabaseTask
{
    public async Task RunAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        foreach (var tenant in options.Value.Tenants)
        {
            await DatasetCatalog.ProvisionTenantAsync(connection, tenant.Id, cancellationToken);
        }
    }
}
