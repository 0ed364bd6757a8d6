using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;
using Parquet;
using Parquet.Schema;

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
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "readings",
            columns = new object[]
            {
                new { name = "id", type = "bigint", required = true },
                new { name = "value", type = "numeric(10,3)", required = true },
                new { name = "label", type = "text" },
            },
            format = "parquet",
        })).EnsureSuccessStatusCode();
        var file = await ParquetAsync();
        using var content = new ByteArrayContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.apache.parquet");
        using var response = await acme.PostAsync("/v1/datasets/readings/uploads", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        var jobId = JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();

        var killedAt = await _deployment.WaitForRowsLoadedAsync(jobId, Rows / 2);
        _deployment.Workers[^1].Kill();
        await _deployment.StartWorkerAsync();
        var job = await acme.WaitForJobEndAsync(jobId, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(killedAt, Is.LessThan(Rows), "the kill came while rows were still being loaded");
        await using var command = _deployment.Sandbox.Db.CreateCommand(
            "select count(*), count(distinct id), max(id), sum(value), count(label) from tenant_acme.readings");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.That(reader.GetInt64(0), Is.EqualTo(Rows), "nothing lost, nothing doubled");
        Assert.That(reader.GetInt64(1), Is.EqualTo(Rows));
        Assert.That(reader.GetInt64(2), Is.EqualTo(Rows));
        Assert.That(reader.GetDecimal(3), Is.EqualTo(Enumerable.Range(1, Rows).Sum(i => i * 0.001m)));
        Assert.That(reader.GetInt64(4), Is.EqualTo(Rows - Rows / 3), "every third label is null");
        Assert.That(job["progress"]!["bytesRead"]!.GetValue<long>(), Is.EqualTo(file.Length).Within(file.Length / 50),
            "the object's bytes through its last row group (the footer after it is not counted)");
    }


    /// <summary>Row n: id n, value n / 1000 as DECIMAL(10,3), label "reading n" except every third, null.</summary>
    private static async Task<byte[]> ParquetAsync()
    {
        DataField[] fields =
        [
            new DataField<long>("id"),
            new DecimalDataField("value", 10, 3, isNullable: false),
            new DataField<string>("label", nullable: true),
        ];
        using var stream = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream))
        {
            for (var g = 0; g < Groups; g++)
            {
                var rows = Enumerable.Range(g * RowsPerGroup + 1, RowsPerGroup).ToArray();
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<long>(fields[0], rows.Select(n => (long)n).ToArray());
                await group.WriteAsync<decimal>(fields[1], rows.Select(n => n * 0.001m).ToArray());
                await group.WriteAsync(fields[2], rows.Select(n => n % 3 == 0 ? null : $"reading {n}").ToArray());
            }
        }

        return stream.ToArray();
    }
}
