using Ingestion.Platform.Database;
using Ingestion.Tests.EndToEnd;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// A database of its own with the product's schema and no hosts: for tests that drive a worker's pieces (the rate
/// budget, the page loader, the scheduler) statement by statement on the real PostgreSQL.
/// </summary>
public static class MigratedSandbox
{
    public static async Task<Sandbox> CreateAsync(string prefix)
    {
        var sandbox = await Sandbox.CreateAsync(TestRun.Servers, prefix + "_" + Guid.NewGuid().ToString("N")[..8]);
        await new DatabaseMigrator(sandbox.Db, [], NullLogger<DatabaseMigrator>.Instance).StartAsync(CancellationToken.None);
        return sandbox;
    }
}
