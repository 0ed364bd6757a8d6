using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// A worker is killed with SIGKILL halfway through a JSON Lines file. The next worker opens the object at the byte offset
/// of the last checkpoint and counts lines on from the line it names. The dataset has no key: a batch loaded twice would
/// show as duplicate rows, a batch skipped as missing ones. Blank lines here and there make the file's line numbers differ
/// from the record count, so the rejects spread through the file, before and after the kill, show whether the lines were
/// counted right after the resume and whether a reject was recorded twice.
/// </summary>
public sealed class When_a_worker_dies_mid_json_lines_file
{
    private const int Lines = 60_000;
    private const int BlankEvery = 5_000;
    private const int BadEvery = 5_987;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "killed-jsonl", new Dictionary<string, string>
    {
        ["Processing__BatchRows"] = "1000",
        ["Processing__SliceDuration"] = "00:00:00.400",
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_resume_at_the_line_after_its_checkpoint_and_load_or_reject_every_line_exactly_once()
    {
        using var acme = _deployment.Client(Keys.Acme);
        await acme.CreateDatasetAsync(new
        {
            name = "events",
            format = "jsonl",
            columns = new object[]
            {
                new { name = "id", type = "bigint", required = true },
                new { name = "label", type = "text", required = true, source = "$.event.text" },
            },
        });
        var good = Enumerable.Range(1, Lines).Where(n => n % BlankEvery != 0 && n % BadEvery != 0).ToList();
        var bad = Enumerable.Range(1, Lines).Where(n => n % BadEvery == 0).Select(n => (long)n).ToList();

        var jobId = await acme.StartUploadAsync("events", JsonLines());
        await _deployment.WaitForRowsLoadedAsync(jobId, good.Count / 2);
        _deployment.Workers[^1].Kill();
        // Read once the worker is dead: what it had loaded when the kill came, and whether the job had ended before it.
        var killedAt = await _deployment.Sandbox.ScalarAsync<long>(
            "select rows_loaded from ingestion.upload_checkpoints where job_id = @id", ("id", jobId));
        var stateAtKill = await _deployment.Sandbox.ScalarAsync<string>(
            "select current_state from ingestion.jobs where job_id = @id", ("id", jobId));
        await _deployment.StartWorkerAsync();
        var job = await acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(killedAt, Is.LessThan(good.Count), "the kill came while rows were still being loaded");
        Assert.That(stateAtKill, Is.AnyOf("Uploaded", "Processing"), "the job had not ended when its worker died");
        await using var command = _deployment.Sandbox.Db.CreateCommand(
            "select count(*), count(distinct id), sum(id), count(*) filter (where label <> 'line ' || id) from tenant_acme.events");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.That(reader.GetInt64(0), Is.EqualTo(good.Count), "nothing lost, nothing doubled");
        Assert.That(reader.GetInt64(1), Is.EqualTo(good.Count));
        Assert.That(reader.GetDecimal(2), Is.EqualTo(good.Sum(n => (decimal)n)), "the very lines of the file");
        Assert.That(reader.GetInt64(3), Is.Zero, "each row's values come from one line");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(good.Count));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(bad.Count));
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(bad), "each bad line once, under its line number in the file");
        Assert.That(rejects.Select(r => r.Column), Is.All.EqualTo("id"));
        Assert.That(rejects.Select(r => Encoding.UTF8.GetString(r.Record)), Is.EqualTo(bad.Select(n => Line((int)n))));
    }

    /// <summary>Line n: <c>{"id":n,"event":{"text":"line n"}}</c>, except every 5,000th blank and every 5,987th with a text id.</summary>
    private static byte[] JsonLines()
    {
        var file = new StringBuilder();
        for (var n = 1; n <= Lines; n++)
        {
            file.Append(Line(n)).Append('\n');
        }

        return Encoding.UTF8.GetBytes(file.ToString());
    }

    private static string Line(int n) => n % BlankEvery == 0
        ? ""
        : n % BadEvery == 0
            ? $$$"""{"id":"line {{{n}}}","event":{"text":"line {{{n}}}"}}"""
            : $$$"""{"id":{{{n}}},"event":{"text":"line {{{n}}}"}}""";
}
