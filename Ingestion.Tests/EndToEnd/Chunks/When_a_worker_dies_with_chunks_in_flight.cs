using System.Text;
using Ingestion.Tests.Infrastructure;
using static Ingestion.Tests.EndToEnd.Chunks.ChunkedLoads;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// Two workers load one file in chunks; both are killed with SIGKILL three times while several
/// chunks are being loaded, and two new ones take over. The dataset is keyed (reject), so its chunks load straight
/// into the table in parallel, each batch with its transaction id: a batch loaded twice would show as a reject ("already
/// in the table"), a batch or a chunk skipped as missing rows.
/// </summary>
public sealed class When_a_worker_dies_with_chunks_in_flight
{
    private const int Rows = 200_000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "chunkkill", new Dictionary<string, string>
    {
        ["Processing__ChunkBytes"] = "262144",
        ["Processing__ChunksInFlightPerJob"] = "4",
        ["Processing__BatchRows"] = "1000",
    }, workers: 2);

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_resume_every_chunk_from_its_checkpoint_and_load_every_row_exactly_once()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await CreateDatasetAsync(acme, "events",
            [new { name = "id", type = "bigint", required = true }, new { name = "payload", type = "text", required = true }], key: ["id"]);
        var csv = new StringBuilder("id,payload\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(i).Append(",event number ").Append(i).Append(" with some padding to make the file longer\n");
        }

        var jobId = await acme.StartUploadAsync("events", Encoding.UTF8.GetBytes(csv.ToString()));
        var inFlight = new List<long>();
        foreach (var fraction in new[] { 0.2, 0.45, 0.7 })
        {
            await WaitForChunkRowsAsync(_deployment, jobId, (long)(Rows * fraction));
            inFlight.Add(await _deployment.Sandbox.ScalarAsync<long>(
                "select count(*) from ingestion.upload_chunks where job_id = @id and state = 'sent' and byte_offset > start_offset",
                ("id", jobId)));
            // Every worker dies, so each part-loaded chunk must be taken again from its checkpoint.
            foreach (var worker in _deployment.Workers)
            {
                worker.Kill();
            }

            await _deployment.StartWorkerAsync();
            await _deployment.StartWorkerAsync();
        }

        var job = await acme.WaitForJobEndAsync(jobId, seconds: 240);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.upload_chunk_batches where job_id = @id",
            ("id", jobId)), Is.Zero, "the join forgot the batches' transaction ids, needed only while chunks load");
        Assert.That(inFlight.Max(), Is.Positive, "chunks were part-loaded when the workers died");
        var (count, distinct, max) = await IdCountsAsync(_deployment, "events");
        Assert.That(count, Is.EqualTo(Rows), "nothing lost, nothing doubled");
        Assert.That(distinct, Is.EqualTo(Rows));
        Assert.That(max, Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        Assert.That(await ChunksAsync(_deployment, jobId), Is.GreaterThan(20));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.upload_chunks where job_id = @id and attempts > 1", ("id", jobId)), Is.Positive,
            "the chunks part-loaded at a kill were taken again");
    }
}
