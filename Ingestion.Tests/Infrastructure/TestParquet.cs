using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;

namespace Ingestion.Tests.Infrastructure;

/// <summary>Parquet files of readings (id, value, label), written with Parquet.Net's writer, and their upload.</summary>
public static class TestParquet
{
    /// <summary>The readings dataset's columns, as the files here fill them.</summary>
    public static readonly object[] ReadingColumns =
    [
        new { name = "id", type = "bigint", required = true },
        new { name = "value", type = "numeric(10,3)", required = true },
        new { name = "label", type = "text" },
    ];

    /// <summary>
    /// Row n (from 1): id n (or <paramref name="id"/>(n)), value n / 1000 as DECIMAL(10,3), label "reading n" except every
    /// third, null; <paramref name="groups"/> row groups of <paramref name="rowsPerGroup"/> rows.
    /// </summary>
    public static async Task<byte[]> ReadingsAsync(int groups, int rowsPerGroup, Func<int, int>? id = null)
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
            for (var g = 0; g < groups; g++)
            {
                var rows = Enumerable.Range(g * rowsPerGroup + 1, rowsPerGroup).ToArray();
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<long>(fields[0], rows.Select(n => (long)(id?.Invoke(n) ?? n)).ToArray());
                await group.WriteAsync<decimal>(fields[1], rows.Select(n => n * 0.001m).ToArray());
                await group.WriteAsync(fields[2], rows.Select(n => n % 3 == 0 ? null : $"reading {n}").ToArray());
            }
        }

        return stream.ToArray();
    }

    /// <summary>Uploads a Parquet file to <paramref name="dataset"/> (which declares <c>parquet</c>): the job's id.</summary>
    public static async Task<Guid> StartParquetUploadAsync(this HttpClient client, string dataset, byte[] file)
    {
        using var content = new ByteArrayContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/vnd.apache.parquet");
        using var response = await client.PostAsync($"/v1/datasets/{dataset}/uploads", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();
    }

    /// <summary>
    /// Asserts that <paramref name="table"/> holds the readings of rows 1 to <paramref name="rows"/> exactly once each, with
    /// their values and nulls: a batch loaded twice shows as duplicates, one skipped as missing rows.
    /// </summary>
    public static async Task AssertReadingsAsync(Sandbox sandbox, string table, int rows)
    {
        await using var command = sandbox.Db.CreateCommand($"select count(*), count(distinct id), max(id), sum(value), count(label) from {table}");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.That(reader.GetInt64(0), Is.EqualTo(rows), "nothing lost, nothing doubled");
        Assert.That(reader.GetInt64(1), Is.EqualTo(rows));
        Assert.That(reader.GetInt64(2), Is.EqualTo(rows));
        Assert.That(reader.GetDecimal(3), Is.EqualTo(Enumerable.Range(1, rows).Sum(i => i * 0.001m)));
        Assert.That(reader.GetInt64(4), Is.EqualTo(rows - rows / 3), "every third label is null");
    }
}
