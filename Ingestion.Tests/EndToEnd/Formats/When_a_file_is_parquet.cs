using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;
using Parquet;
using Parquet.Schema;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// Parquet uploads (<c>format=parquet</c>): read from S3 by ranged GETs, page by page a batch of rows at a time, columns matched by name
/// (a declared source wins) and converted to the dataset's types; rejects are named by row group and row. The files are
/// written here with Parquet.Net's writer.
/// </summary>
public sealed class When_a_file_is_parquet
{
    private readonly string _dataset = "orders_" + Guid.NewGuid().ToString("N")[..8];
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public async Task RegisterAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        await _acme.CreateDatasetAsync(new
        {
            name = _dataset,
            columns = new object[]
            {
                new { name = "order_id", type = "uuid", required = true },
                new { name = "quantity", type = "integer", required = true },
                new { name = "total", type = "numeric(12,2)" },
                new { name = "booked_on", type = "date", source = "Booking Date" },
                new { name = "booked_at", type = "timestamptz" },
                new { name = "note", type = "text" },
                new { name = "paid", type = "boolean" },
            },
            key = new[] { "order_id" },
        });
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_load_several_row_groups_with_nulls_exactly_and_reject_rows_naming_their_row_group_and_row()
    {
        // 3 row groups of 400 rows, in batches of 500 (the tests' setting): the key of row 1,050 is in the table already, so
        // the third batch collides and is redone from its checkpoint, 1,000 rows in: the middle of the third row group.
        await TestRun.Shared.Sandbox.ExecuteAsync(
            $"insert into tenant_acme.{_dataset} (order_id, quantity) values (@id, -1)", ("id", Id(1050)));
        var file = await ParquetAsync(groups: 3, rowsPerGroup: 400, Fields(total: new DecimalDataField("total", 12, 3, isNullable: true)));

        var job = await UploadAsync(file, "?format=parquet");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(1197));
        Assert.That(job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(3));
        Assert.That(job["progress"]!["bytesTotal"]!.GetValue<long>(), Is.EqualTo(file.Length));

        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Column, r.Reason)), Is.EqualTo(new[]
        {
            (150L, "quantity", "is required but null (row group 1, row 150)"),
            (700L, "total", "has more than 2 decimal places: 700.125 (row group 2, row 300)"),
            (1050L, "order_id", $"has the key (order_id)=({Id(1050)}), which is already in the table"),
        }));
        Assert.That(Encoding.UTF8.GetString(rejects[0].Record), Does.StartWith($"{{\"order_id\":\"{Id(150)}\",\"Quantity\":null,"));

        var sandbox = TestRun.Shared.Sandbox;
        var table = $"tenant_acme.{_dataset}";
        Assert.That(await sandbox.ScalarAsync<long>($"select count(distinct order_id) from {table} where quantity > 0"), Is.EqualTo(1197),
            "every row once, none twice, across the redone batch");
        Assert.That(await sandbox.ScalarAsync<long>($"select sum(quantity) from {table} where quantity > 0"),
            Is.EqualTo(Enumerable.Range(1, 1200).Where(n => n is not (150 or 700 or 1050)).Sum()));
        Assert.That(await sandbox.ScalarAsync<long>($"select count(*) from {table} where quantity > 0 and total is null"),
            Is.EqualTo(Enumerable.Range(1, 1200).Count(n => n % 7 == 0 && n is not (700 or 1050))), "nulls stay null");
        Assert.That(await sandbox.ScalarAsync<string>(
                $"select concat_ws('|', total, booked_on, to_char(booked_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), note, paid) from {table} where order_id = @id",
                ("id", Id(1002))),
            Is.EqualTo("1002.25|2026-01-23|2026-01-01 00:16:42.000123|Café 1002|t"),
            "a row of the third row group, after the redo, with every type exact");
        Assert.That(await sandbox.ScalarAsync<long>($"select count(*) from {table} where booked_on is null and quantity > 0"),
            Is.EqualTo(Enumerable.Range(1, 1200).Count(n => n % 11 == 0 && n is not (150 or 700 or 1050))));
        // What Arrow took, as the worker read it back from Arrow: its default pool (footer reads) is the C library's, set
        // before Arrow's first use (mimalloc's per-thread heaps kept each chunk's footer resident).
        Assert.That(TestRun.Shared.Workers.Select(w => w.Log()), Has.Some.Contains("Arrow's default memory pool is system"),
            "the worker's Parquet reads allocate from the system pool");
    }

    [Test]
    public async Task Should_fail_at_once_naming_the_column_and_both_types_when_a_type_does_not_convert()
    {
        var file = await ParquetAsync(1, 10, Fields(total: new DataField<double>("total")));

        var job = await UploadAsync(file, "?format=parquet");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("type_mismatch"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Is.EqualTo(
            $"Column 'total' is numeric(12,2) in dataset '{_dataset}', but the Parquet column 'total' is DOUBLE, which does not convert to it exactly (binary floating point is not decimal); write it as DECIMAL, or as a string."));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>() + job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.Zero);
    }

    [Test]
    public async Task Should_fail_at_once_naming_a_missing_required_column()
    {
        var file = await ParquetAsync(1, 10, [new DataField<Guid>("order_id")]);

        var job = await UploadAsync(file, "?format=parquet");

        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("missing_columns"), job.ToJsonString());
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Is.EqualTo(
            $"The Parquet file lacks required column quantity of dataset '{_dataset}'; its columns are order_id."));
    }

    [Test]
    public async Task Should_refuse_a_parquet_file_declared_as_csv_and_a_csv_declared_as_parquet_saying_what_each_is()
    {
        var parquet = await ParquetAsync(1, 10, Fields());
        var asCsv = await UploadAsync(parquet, "?format=csv");
        Assert.That(asCsv["error"]!["code"]!.GetValue<string>(), Is.EqualTo("format_mismatch"), asCsv.ToJsonString());
        Assert.That(asCsv["error"]!["message"]!.GetValue<string>(), Does.Contain("it is a Parquet file; declare format=parquet"));

        var csv = Encoding.UTF8.GetBytes($"order_id,quantity\n{Id(1)},1\n");
        var asParquet = await UploadAsync(csv, "?format=parquet");
        Assert.That(asParquet["error"]!["code"]!.GetValue<string>(), Is.EqualTo("format_mismatch"), asParquet.ToJsonString());
        Assert.That(asParquet["error"]!["message"]!.GetValue<string>(), Does.Contain("most likely CSV"));
    }

    [Test]
    public async Task Should_fail_a_truncated_file_and_a_garbage_page_as_corrupt_saying_which_rows_are_loaded()
    {
        // A dataset of its own: the rows this file loads would collide with the other tests' keys.
        var dataset = _dataset + "_corrupt";
        await _acme.CreateDatasetAsync(new
        {
            name = dataset,
            columns = new object[] { new { name = "order_id", type = "uuid", required = true }, new { name = "quantity", type = "integer" } },
            key = new[] { "order_id" },
        });
        DataField[] fields = [new DataField<Guid>("order_id"), new DataField<long?>("Quantity")];
        var file = await ParquetAsync(groups: 2, rowsPerGroup: 600, fields);

        var truncated = await UploadAsync(file[..(file.Length / 2)], "?format=parquet", dataset);
        Assert.That(truncated["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"), truncated.ToJsonString());
        Assert.That(truncated["error"]!["message"]!.GetValue<string>(), Does.StartWith("The file is not a readable Parquet file: ")
            .And.Not.Contains(" at "));

        // The second row group's Quantity chunk overwritten where its first page starts: the footer reads, that group not.
        await using (var reader = await ParquetReader.CreateAsync(new MemoryStream(file)))
        {
            file.AsSpan((int)reader.Metadata!.RowGroups[1].Columns[1].MetaData!.DataPageOffset, 32).Fill(0xFF);
        }

        var garbage = await UploadAsync(file, "?format=parquet", dataset);
        Assert.That(garbage["status"]!.GetValue<string>(), Is.EqualTo("failed"), garbage.ToJsonString());
        Assert.That(garbage["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"));
        Assert.That(garbage["error"]!["message"]!.GetValue<string>(),
            Does.StartWith("The Parquet file is corrupt: row group 2 of 2, column 'Quantity', cannot be decoded (")
                .And.EndWith("). Rows up to row 500 are loaded, the rest are not.")
                .And.Not.Contains(" at "));
        Assert.That(garbage["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(500), "the first batch");
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{dataset}"), Is.EqualTo(500));
    }

    private async Task<JsonNode> UploadAsync(byte[] file, string query, string? dataset = null)
    {
        using var content = new ByteArrayContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.apache.parquet");
        using var response = await _acme.PostAsync($"/v1/datasets/{dataset ?? _dataset}/uploads{query}", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        return await _acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>());
    }

    private static Guid Id(int n) => Guid.Parse($"00000000-0000-4000-9000-{n:x12}");

    private static DataField[] Fields(DataField? total = null) =>
    [
        new DataField<Guid>("order_id"),
        new DataField<long?>("Quantity"),
        total ?? new DecimalDataField("total", 12, 2, isNullable: true),
        new DataField<DateOnly?>("booking date"),
        new DateTimeDataField("booked_at", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: true),
        new DataField<string>("note"),
        new DataField<bool?>("paid"),
    ];

    /// <summary>
    /// Row n (from 1): id n, quantity n (null on row 150), total n.25 (700.125 on row 700; null every 7th), booked on
    /// 2026-01-01 plus n % 28 days (null every 11th), booked at n seconds and 123 µs past 2026 (null every 13th), note
    /// "Café n", paid when n is even.
    /// </summary>
    private static async Task<byte[]> ParquetAsync(int groups, int rowsPerGroup, DataField[] fields)
    {
        using var stream = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream))
        {
            for (var g = 0; g < groups; g++)
            {
                using var group = writer.CreateRowGroup();
                var rows = Enumerable.Range(g * rowsPerGroup + 1, rowsPerGroup).ToArray();
                foreach (var field in fields)
                {
                    switch (field.Name)
                    {
                        case "order_id":
                            await group.WriteAsync<Guid>(field, rows.Select(Id).ToArray());
                            break;
                        case "Quantity":
                            await group.WriteAsync<long>(field, rows.Select(n => n == 150 ? null : (long?)n).ToArray());
                            break;
                        case "total" when field is DecimalDataField:
                            await group.WriteAsync<decimal>(field, rows.Select(n => n == 700 ? 700.125m : n % 7 == 0 ? null : (decimal?)(n + 0.25m)).ToArray());
                            break;
                        case "total":
                            await group.WriteAsync<double>(field, rows.Select(n => n + 0.25).ToArray());
                            break;
                        case "booking date":
                            await group.WriteAsync<DateOnly>(field, rows.Select(n => n % 11 == 0 ? null : (DateOnly?)new DateOnly(2026, 1, 1).AddDays(n % 28)).ToArray());
                            break;
                        case "booked_at":
                            await group.WriteAsync<DateTime>(field, rows.Select(n => n % 13 == 0 ? null
                                : (DateTime?)new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(n).AddTicks(1230)).ToArray());
                            break;
                        case "note":
                            await group.WriteAsync(field, rows.Select(n => "Café " + n.ToString(CultureInfo.InvariantCulture)).ToArray());
                            break;
                        case "paid":
                            await group.WriteAsync<bool>(field, rows.Select(n => (bool?)(n % 2 == 0)).ToArray());
                            break;
                    }
                }
            }
        }

        return stream.ToArray();
    }
}
