using System.Net.Http.Json;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// A worker is killed with SIGKILL late in a gzip file. A compressed stream cannot be entered at an offset, so the next
/// worker reads the object from its start, decompresses up to the checkpoint without parsing, and loads from there. The
/// dataset has no key: a batch loaded twice would show as duplicate rows, a batch skipped as missing ones. Small batches
/// and short slices make the kill land among many checkpoints. The file is larger than a chunk, compressed, but this
/// deployment has <c>Processing:ChunkCompressed</c> off (as during a rolling upgrade): it loads in one stream, and says so.
/// </summary>
public sealed class When_a_worker_dies_late_in_a_compressed_file
{
    private const int Rows = 120_000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "killed-gzip", new Dictionary<string, string>
    {
        ["Processing__BatchRows"] = "1000",
        ["Processing__SliceDuration"] = "00:00:00.400",
        ["Processing__ChunkBytes"] = "65536",
        ["Processing__ChunkCompressed"] = "false",
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_skip_to_the_checkpoint_through_the_decompressor_and_load_every_row_exactly_once()
    {
        using var acme = _deployment.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "events",
            columns = new[] { new { name = "id", type = "bigint", required = true }, new { name = "payload", type = "text", required = true } },
        })).EnsureSuccessStatusCode();
        var csv = new StringBuilder("id,payload\n");
        for (var i = 1; i <= Rows; i++)
        {
            csv.Append(i).Append(",event number ").Append(i).Append(" with some padding to make the file longer\n");
        }

        var text = Encoding.UTF8.GetBytes(csv.ToString());
        var gzip = When_a_file_is_compressed.Gzip(text);
        Assert.That(gzip.Length, Is.GreaterThan(65536), "larger than a chunk, compressed");
        var jobId = await acme.StartUploadAsync("events", gzip);
        var killedAt = await _deployment.WaitForRowsLoadedAsync(jobId, (long)(Rows * 0.85));
        _deployment.Workers[^1].Kill();
        await _deployment.StartWorkerAsync();

        var job = await acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(killedAt, Is.LessThan(Rows), "the kill came while rows were still being loaded");
        var (count, distinct, max) = await CountsAsync();
        Assert.That(count, Is.EqualTo(Rows), "nothing lost, nothing doubled");
        Assert.That(distinct, Is.EqualTo(Rows));
        Assert.That(max, Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["bytesRead"]!.GetValue<long>(), Is.EqualTo(gzip.Length));
        Assert.That(job["progress"]!["uncompressedBytesRead"]!.GetValue<long>(), Is.EqualTo(text.Length - 1), "to the end of the last record");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.upload_chunks where job_id = @id",
            ("id", jobId)), Is.Zero, "one stream, no chunks");
        Assert.That(_deployment.Workers.Select(w => w.Log()), Has.Some.Contains(
            $"Job {jobId}: the object is gzip-compressed ({gzip.Length} bytes): loaded as one chunk"));
    }


    private async Task<(long Count, long Distinct, long Max)> CountsAsync()
    {
        await using var command = _deployment.Sandbox.Db.CreateCommand("select count(*), count(distinct id), max(id) from tenant_acme.events");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }
}
