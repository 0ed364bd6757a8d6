using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// A CSV export streamed from the read API straight back into the upload API (never held
/// whole) loads an identical dataset: every row equal, column by column. The suite uses
/// 200,000 rows; <c>INGESTION_EXPORT_ROWS=1000000</c> runs the size the issue names.
/// </summary>
public sealed class When_an_export_is_uploaded_again
{
    private static readonly int Rows = int.Parse(Environment.GetEnvironmentVariable("INGESTION_EXPORT_ROWS") ?? "200000",
        CultureInfo.InvariantCulture);

    [Test]
    public async Task Should_load_an_identical_dataset()
    {
        using var acme = TestRun.Shared.Client(Keys.Acme);
        var source = "exported_" + Guid.NewGuid().ToString("N")[..8];
        var copy = "reloaded_" + Guid.NewGuid().ToString("N")[..8];
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(source));
        await acme.CreateDatasetAsync(When_dataset_rows_are_read.Definition(copy));
        await FillAsync(source);

        var watch = Stopwatch.StartNew();
        using var export = await acme.ReadAsync($"/v1/datasets/{source}/rows", "text/csv");
        Assert.That((int)export.StatusCode, Is.EqualTo(200));
        using var upload = new StreamContent(await export.Content.ReadAsStreamAsync());
        upload.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var accepted = await acme.PostAsync($"/v1/datasets/{copy}/uploads", upload);
        var body = await accepted.Content.ReadAsStringAsync();
        Assert.That((int)accepted.StatusCode, Is.EqualTo(202), body);
        var job = await acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>(), 600);
        TestContext.Out.WriteLine($"{Rows:N0} rows exported and loaded again in {watch.Elapsed}");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Rows));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
        await using var compare = TestRun.Shared.Sandbox.Db.CreateCommand($"""
            select (select count(*) from (select * from tenant_acme.{source} except all select * from tenant_acme.{copy}) a),
                   (select count(*) from (select * from tenant_acme.{copy} except all select * from tenant_acme.{source}) b),
                   (select count(*) from tenant_acme.{copy})
            """);
        await using var reader = await compare.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.That((reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)), Is.EqualTo((0L, 0L, (long)Rows)),
            "rows only in the source, rows only in the copy, rows in the copy");
    }

    /// <summary>
    /// Straight into the table (the export is under test, not the upload): quotes, commas, line
    /// breaks, non-Latin text, nulls in every optional column, microsecond timestamps.
    /// </summary>
    private static async Task FillAsync(string dataset)
    {
        await using var fill = TestRun.Shared.Sandbox.Db.CreateCommand($"""
            insert into tenant_acme.{dataset} (id, name, price, qty, active, day, at, ref, note)
            select i,
                   case i % 4 when 0 then 'plain ' || i when 1 then 'with "quotes", a comma' when 2 then e'two\nlines ' || i else 'Zürich Łódź Αθήνα ' || i end,
                   case when i % 13 = 0 then null else (i % 100000) / 100.0 - 300 end,
                   case when i % 17 = 0 then null else i % 1000 - 500 end,
                   case when i % 19 = 0 then null else i % 2 = 0 end,
                   case when i % 23 = 0 then null else date '2020-01-01' + i % 3000 end,
                   timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second 123457 microseconds',
                   case when i % 29 = 0 then null else md5(i::text)::uuid end,
                   case when i % 5 = 0 then null else 'note ' || i end
            from generate_series(1, @rows) as s(i)
            """);
        fill.Parameters.AddWithValue("rows", Rows);
        fill.CommandTimeout = 600;
        await fill.ExecuteNonQueryAsync();
    }
}
