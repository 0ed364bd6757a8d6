using System.Text;
using Ingestion.Tests.Infrastructure;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// The boundary scan hands on after every chunk it records (a slice of a millisecond), so the job's
/// message comes back once per chunk while earlier chunks are queued or loading. Each chunk loads
/// in one batch, so each is taken exactly once unless its message was sent twice: the scan's turns
/// must not send again the chunks an earlier turn of the same attempt sent.
/// </summary>
public sealed class When_the_chunk_scan_takes_many_turns
{
    private const int Rows = 6000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "chunkturns", new Dictionary<string, string>
    {
        ["Processing__ChunkBytes"] = "4096",
        ["Processing__ChunksInFlightPerJob"] = "4",
        ["Processing__SliceDuration"] = "00:00:00.001",
        ["Processing__BatchRows"] = "100000",
    }, workers: 2);

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_load_every_row_once_and_take_each_chunk_once()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await CreateDatasetAsync(acme, "ledger",
            [new { name = "entry", type = "integer", required = true }, new { name = "note", type = "text" }]);
        var csv = new StringBuilder("entry,note\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(i).Append(",note ").Append(i).Append('\n');
        }

        var jobId = await acme.StartUploadAsync("ledger", Encoding.UTF8.GetBytes(csv.ToString()));
        var job = await LoadedAsync(acme, jobId);

        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from tenant_acme.ledger"), Is.EqualTo(Rows));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(distinct entry) from tenant_acme.ledger"), Is.EqualTo(Rows));
        Assert.That(await ChunksAsync(_deployment, jobId), Is.GreaterThan(10), "the scan took a turn per chunk, many turns");
        var attempts = await _deployment.Sandbox.ScalarAsync<int[]>(
            "select array_agg(attempts order by chunk) from ingestion.upload_chunks where job_id = @id", ("id", jobId));
        Assert.That(attempts, Is.All.EqualTo(1), "a chunk's message was sent more than once");
    }

    private static async Task<System.Text.Json.Nodes.JsonNode> LoadedAsync(HttpClient client, Guid jobId)
    {
        var job = await client.WaitForJobEndAsync(jobId, 120);
        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        return job;
    }
}
