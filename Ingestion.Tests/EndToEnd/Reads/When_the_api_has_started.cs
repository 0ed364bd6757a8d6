using Ingestion.Api.Reads;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>The shared stack's API, as PostgreSQL sees it: its read pool was opened at start-up and stays open, as many as the pool may hold.</summary>
public sealed class When_the_api_has_started
{
    [Test]
    public async Task Should_keep_its_warm_read_connections_open()
    {
        var sandbox = TestRun.Shared.Sandbox;
        await using var count = sandbox.Db.CreateCommand(
            "select count(*) from pg_stat_activity where datname = @database and application_name = 'Ingestion.Api-reads'");
        count.Parameters.AddWithValue("database", sandbox.Database);

        var open = (long)(await count.ExecuteScalarAsync())!;

        Assert.That(open, Is.GreaterThanOrEqualTo(new ReadOptions().WarmConnections),
            "the read connections ReadPoolWarmUp opened (or the reads before this test did: the pool's minimum keeping them is pinned below)");
    }

    [TestCase(null, 16, 16, 16)]
    [TestCase(10, 10, 10, 10)]
    [TestCase(40, 16, 16, 16)]
    public async Task Should_keep_as_many_warm_connections_as_its_pool_may_hold(int? maxPoolSize, int poolSize, int minPoolSize, int warmed)
    {
        // Built without connecting: what the pool keeps, and what the warm-up opens, never more than the pool's maximum
        // (past it, the rest would wait the pool's timeout for one of these to come back).
        var connection = "Host=127.0.0.1;Database=reads" + (maxPoolSize is { } max ? $";Maximum Pool Size={max}" : "");
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Read"] = connection })
            .Build();
        var options = new ReadOptions();

        await using var database = ReadDatabase.Create(configuration, NullLoggerFactory.Instance, "test", options.WarmConnections,
            options.MaxConnections);

        // By default the pool is fixed at the warmed connections: load waits for one instead of opening more.
        Assert.That(new NpgsqlConnectionStringBuilder(database.DataSource.ConnectionString).MaxPoolSize, Is.EqualTo(poolSize));
        Assert.That(new NpgsqlConnectionStringBuilder(database.DataSource.ConnectionString).MinPoolSize, Is.EqualTo(minPoolSize));
        Assert.That(ReadPoolWarmUp.Count(database, options), Is.EqualTo(warmed));
    }
}
