using System.Net.Http.Json;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// A worker is killed with SIGKILL halfway through a Parquet file of twelve row groups, in batches smaller than a row group,
/// so its last checkpoint is inside a row group. The next worker reads the footer again, seeks to that row group and skips
/// to the row after the checkpoint. The dataset (declared <c>parquet</c>) has no key: a batch loaded twice would show as
/// duplicate rows, a batch skipped as missing ones.
/// </summary>
public sealed class When_a_worker_dies_in_a_parquet_file
{
    private const int Groups = 12;
    private const int RowsPerGroup = 10_000;
    private const int Rows = Groups * RowsPerGroup;
    private Deployment _deployment = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => _deployment = await Deployment.StartAsync(TestRun.Servers, "killed-parquet", new Dictionary<string, string>
    {
        ["Processing__BatchRows"] = "1700", // no multiple of it below 170,000 ends a row group
        ["Processing__SliceDuration"] = "00:00:00.400",
    });

    [OneTimeTearDown]
    public async Task StopAsync() => await _deployment.DisposeAsync();

    [Test]
    public async Task Should_resume_inside_the_row_group_of_its_checkpoint_and_load_every_row_exactly_once()
    {
        using var acme = _deployment.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new { name = "readings", columns = TestParquet.ReadingColumns, format = "parquet" }))
            .EnsureSuccessStatusCode();
        var file = await TestParquet.ReadingsAsync(Groups, RowsPerGroup);
        var jobId = await acme.StartParquetUploadAsync("readings", file);

        var killedAt = await _deployment.WaitForRowsLoadedAsync(jobId, Rows / 2);
        _deployment.Workers[^1].Kill();
        await _deployment.StartWorkerAsync();
        var job = await acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(killedAt, Is.LessThan(Rows), "the kill came while rows were still being loaded");
        await TestParquet.AssertReadingsAsync(_deployment.Sandbox, "tenant_acme.readings", Rows);
        Assert.That(job["progress"]!["bytesRead"]!.GetValue<long>(), Is.EqualTo(file.Length).Within(file.Length / 50),
            "the object's bytes through its last row group (the footer after it is not counted)");
    }
}
