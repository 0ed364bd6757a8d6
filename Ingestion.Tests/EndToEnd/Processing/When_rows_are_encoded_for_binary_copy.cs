using System.Text;
using Ingestion.Workers.Copy;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// Uploads encode their rows for binary COPY themselves (<see cref="BinaryCopyRows"/>), not through
/// Npgsql's importer. The same values, edge values included, written both ways into two identical
/// tables must give identical rows: Npgsql's encoding is the reference, except at the extreme dates
/// and timestamps, which Npgsql writes as ∓infinity and BinaryCopyRows as the dates they are.
/// </summary>
public sealed class When_rows_are_encoded_for_binary_copy
{
    private const string Columns = "i4, i8, n, t, d, u, b, x";

    private static readonly decimal[] Numerics =
    [
        0m, -0.00m, 12.50m, -12.5m, 0.0001m, 0.00001m, 123456789012.34m, 10000m, -10000.0001m, decimal.MaxValue,
        decimal.MinValue, 0.0000000000000000000000000001m, -7.9228162514264337593543950335m, 99999999.99m,
    ];

    private static readonly DateTime[] Timestamps =
    [
        new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(-1),
        new DateTime(1969, 7, 20, 20, 17, 40, DateTimeKind.Utc).AddTicks(1234567), new(2026, 5, 1, 13, 45, 0, 123, DateTimeKind.Utc),
        DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc),
        new(1, 1, 2, 0, 0, 0, DateTimeKind.Utc),
    ];

    private static readonly DateOnly[] Dates =
        [new(2000, 1, 1), new(1999, 12, 31), new(1970, 1, 1), new(9999, 12, 30), DateOnly.MinValue, DateOnly.MaxValue];

    private static readonly string?[] Texts = ["", "plain", "Zürich Bäckerei, Łódź Café, Αθήνα 📚", new string('x', 200_000), null];

    [Test]
    public async Task Should_store_the_same_values_as_npgsqls_importer()
    {
        await using var db = NpgsqlDataSource.Create(TestRun.Servers.PostgresConnectionString("postgres"));
        await using var connection = await db.OpenConnectionAsync();
        await using (var create = new NpgsqlCommand(
                         $"create temp table ours (row int, {Definitions()}); create temp table theirs (row int, {Definitions()})",
                         connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        var rows = Enumerable.Range(0, 40).ToList();
        await using (var theirs = await connection.BeginBinaryImportAsync($"copy theirs (row, {Columns}) from stdin (format binary)"))
        {
            foreach (var row in rows)
            {
                await theirs.StartRowAsync();
                await theirs.WriteAsync(row, NpgsqlDbType.Integer);
                await theirs.WriteAsync(row % 3 == 0 ? int.MinValue : row % 3 == 1 ? int.MaxValue : -row, NpgsqlDbType.Integer);
                await theirs.WriteAsync(row % 2 == 0 ? long.MinValue + row : long.MaxValue - row, NpgsqlDbType.Bigint);
                await theirs.WriteAsync(Numerics[row % Numerics.Length], NpgsqlDbType.Numeric);
                await theirs.WriteAsync(Timestamps[row % Timestamps.Length], NpgsqlDbType.TimestampTz);
                await theirs.WriteAsync(Dates[row % Dates.Length], NpgsqlDbType.Date);
                await theirs.WriteAsync(Uuid(row), NpgsqlDbType.Uuid);
                await theirs.WriteAsync(row % 2 == 0, NpgsqlDbType.Boolean);
                if (Texts[row % Texts.Length] is { } text)
                {
                    await theirs.WriteAsync(text, NpgsqlDbType.Text);
                }
                else
                {
                    await theirs.WriteNullAsync();
                }
            }

            await theirs.CompleteAsync();
        }

        await using (var ours = await BinaryCopyRows.BeginAsync(connection, $"copy ours (row, {Columns}) from stdin (format binary)",
                         NullLogger.Instance, CancellationToken.None))
        {
            foreach (var row in rows)
            {
                ours.StartRow(9);
                ours.WriteInt32(row);
                ours.WriteInt32(row % 3 == 0 ? int.MinValue : row % 3 == 1 ? int.MaxValue : -row);
                ours.WriteInt64(row % 2 == 0 ? long.MinValue + row : long.MaxValue - row);
                ours.WriteNumeric(Numerics[row % Numerics.Length]);
                ours.WriteTimestampTz(Timestamps[row % Timestamps.Length]);
                ours.WriteDate(Dates[row % Dates.Length]);
                ours.WriteUuid(Uuid(row));
                ours.WriteBoolean(row % 2 == 0);
                if (Texts[row % Texts.Length] is { } text)
                {
                    ours.WriteBytes(Encoding.UTF8.GetBytes(text));
                }
                else
                {
                    ours.WriteNull();
                }

                await ours.FlushIfFullAsync(CancellationToken.None);
            }

            await ours.CompleteAsync(CancellationToken.None);
            Assert.That(ours.Rows, Is.EqualTo(rows.Count));
        }

        // The one intended difference: a file's 0001-01-01 and 9999-12-31 stay dates (Npgsql writes ∓infinity).
        await using (var literal = new NpgsqlCommand("""
            update theirs set d = case when d = 'infinity' then date '9999-12-31' else date '0001-01-01' end
                where not isfinite(d);
            update theirs set t = case when t = 'infinity' then timestamptz '9999-12-31 23:59:59.999999+00'
                                       else timestamptz '0001-01-01 00:00:00+00' end
                where not isfinite(t);
            """, connection))
        {
            await literal.ExecuteNonQueryAsync();
        }

        await using (var extremes = new NpgsqlCommand("""
            select min(d)::text, max(d)::text, min(t) = timestamptz '0001-01-01 00:00:00+00',
                   max(t) = timestamptz '9999-12-31 23:59:59.999999+00'
            from ours
            """, connection))
        await using (var extreme = await extremes.ExecuteReaderAsync())
        {
            await extreme.ReadAsync();
            Assert.Multiple(() =>
            {
                Assert.That(extreme.GetString(0), Is.EqualTo("0001-01-01"), "DateOnly.MinValue");
                Assert.That(extreme.GetString(1), Is.EqualTo("9999-12-31"), "DateOnly.MaxValue");
                Assert.That(extreme.GetBoolean(2), "DateTime.MinValue is 0001-01-01 00:00 UTC");
                Assert.That(extreme.GetBoolean(3), "DateTime.MaxValue is 9999-12-31 23:59:59.999999 UTC");
            });
        }

        // Compared as text, which shows scale (12.50 against 12.5) and infinities, and as values.
        await using var compare = new NpgsqlCommand($"""
            select (select count(*) from ours),
                   (select count(*) from (select row, {Columns}, n::text, t::text, d::text from ours
                                          except select row, {Columns}, n::text, t::text, d::text from theirs) only_ours),
                   (select count(*) from (select row, {Columns}, n::text, t::text, d::text from theirs
                                          except select row, {Columns}, n::text, t::text, d::text from ours) only_theirs),
                   (select string_agg(n::text, ' ' order by row) from ours where row < {Numerics.Length})
            """, connection);
        await using var reader = await compare.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Multiple(() =>
        {
            Assert.That(reader.GetInt64(0), Is.EqualTo(rows.Count));
            Assert.That(reader.GetInt64(1), Is.Zero, "rows only in the table written by BinaryCopyRows");
            Assert.That(reader.GetInt64(2), Is.Zero, "rows only in the table written by Npgsql's importer");
            Assert.That(reader.GetString(3), Does.StartWith("0 0.00 12.50 -12.5 0.0001 0.00001 123456789012.34 10000 -10000.0001 "));
        });
    }

    private static string Definitions() => "i4 int, i8 bigint, n numeric, t timestamptz, d date, u uuid, b boolean, x text";

    private static Guid Uuid(int row) => row == 0 ? Guid.Empty : new Guid($"0123456789abcdef{row:x4}0123456789ab");
}
