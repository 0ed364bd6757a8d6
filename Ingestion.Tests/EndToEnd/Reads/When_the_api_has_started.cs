using Ingestion.Api.Reads;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>The shared stack's API, as PostgreSQL sees it: its read pool was opened at start-up and stays open.</summary>
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
            "the read connections ReadPoolWarmUp opened, kept as the pool's minimum however long reads were idle");
    }
}
