using System.Net.Http.Json;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// A worker is killed with SIGKILL three times while it loads one file. The dataset has no
/// key, so a batch loaded twice would show as duplicate rows; a batch skipped, as missing
/// ones. Small batches and short slices make every kill land among many checkpoints.
/// </summary>
public sealed class When_a_worker_dies_mid_file
{
    private const int Rows = 300_000;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "killed", new Dictionary<string, string>
    {
        ["Processing__BatchRows"] = "1000",
        ["Processing__SliceDuration"] = "00:00:00.400",
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_resume_from_the_last_checkpoint_and_load_every_row_exactly_once()
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

        var jobId = await acme.StartUploadAsync("events", Encoding.UTF8.GetBytes(csv.ToString()));
        var kills = new List<long>();
        foreach (var fraction in new[] { 0.2, 0.45, 0.7 })
        {
            var loaded = await _deployment.WaitForRowsLoadedAsync(jobId, (long)(Rows * fraction));
            _deployment.Workers[^1].Kill();
            kills.Add(loaded);
            await _deployment.StartWorkerAsync();
        }

        var job = await acme.WaitForJobEndAsync(jobId, seconds: 180);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(kills, Is.Ordered.And.All.LessThan(Rows), "each kill came while rows were still being loaded");
        var (count, distinct, max) = await CountsAsync();
        Assert.That(count, Is.EqualTo(Rows), "nothing lost, nothing doubled");
        Assert.That(distinct, Is.EqualTo(Rows));
        Assert.That(max, Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        Assert.That(_deployment.Workers.Any(w => w.Log().Contains("slice ends", StringComparison.Ordinal)), Is.True,
            "the job was carried by more than one message");
    }


    private async Task<(long Count, long Distinct, long Max)> CountsAsync()
    {
        await using var command = _deployment.Sandbox.Db.CreateCommand("select count(*), count(distinct id), max(id) from tenant_acme.events");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }
}
