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

    [TestCase(null, null, 16, 16, 16, TestName = "Should_fix_the_pool_at_its_warm_connections_by_default")]
    [TestCase(40, null, 16, 16, 16, TestName = "Should_size_the_pool_by_the_reads_settings_not_the_connection_string")]
    [TestCase(null, 10, 10, 10, 10, TestName = "Should_warm_no_more_connections_than_the_pool_holds")]
    [TestCase(null, 200, 200, 16, 16, TestName = "Should_let_the_pool_grow_past_npgsql_s_own_maximum_when_told")]
    public async Task Should_keep_as_many_warm_connections_as_its_pool_may_hold(int? maxPoolSize, int? maxConnections, int poolSize,
        int minPoolSize, int warmed)
    {
        // Built without connecting: what the pool keeps, and what the warm-up opens, never more than the pool's maximum
        // (past it, the rest would wait the pool's timeout for one of these to come back).
        var connection = "Host=127.0.0.1;Database=reads" + (maxPoolSize is { } max ? $";Maximum Pool Size={max}" : "");
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Read"] = connection })
            .Build();
        var options = maxConnections is { } most ? new ReadOptions { MaxConnections = most } : new ReadOptions();

        await using var database = ReadDatabase.Create(configuration, NullLoggerFactory.Instance, "test", options);

        var built = new NpgsqlConnectionStringBuilder(database.DataSource.ConnectionString);
        Assert.That(built.MaxPoolSize, Is.EqualTo(poolSize));
        Assert.That(built.MinPoolSize, Is.EqualTo(minPoolSize));
        Assert.That(built.Timeout, Is.EqualTo(2), "a busy pool is answered after Reads:ConnectionWait, not Npgsql's 15 s");
        Assert.That(ReadPoolWarmUp.Count(database, options), Is.EqualTo(warmed));
    }
}
