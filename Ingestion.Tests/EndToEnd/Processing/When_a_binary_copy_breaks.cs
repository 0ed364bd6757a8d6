using Ingestion.Workers.Copy;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Processing;

/// <summary>
/// A COPY whose connection breaks under it (PostgreSQL restarted, the job cancelled while a write
/// waits) must end with the exception that broke it: the job layer cancels on
/// OperationCanceledException and retries a transient NpgsqlException from the checkpoint, and an
/// ObjectDisposedException from cleaning up the ended COPY would make either a plain failure.
/// </summary>
public sealed class When_a_binary_copy_breaks
{
    private static readonly byte[] Padding = new byte[1000];

    [Test]
    public async Task Should_surface_the_lost_connection_not_the_ended_copy()
    {
        await using var db = NpgsqlDataSource.Create(TestRun.Servers.PostgresConnectionString("postgres"));
        await using var connection = await db.OpenConnectionAsync();
        await using (var create = new NpgsqlCommand("create temp table copied (n int, x bytea)", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        var pid = connection.ProcessID;
        var thrown = await CatchAsync(async () =>
        {
            await using var copy = await BinaryCopyRows.BeginAsync(connection, "copy copied (n, x) from stdin (format binary)",
                NullLogger.Instance, CancellationToken.None);
            await WriteRowsAsync(copy, 0, 10, CancellationToken.None);
            await using (var terminate = new NpgsqlCommand("select pg_terminate_backend(@pid)", await db.OpenConnectionAsync()))
            {
                terminate.Parameters.AddWithValue("pid", pid);
                await terminate.ExecuteScalarAsync();
            }

            // Writes go to the socket until it reports the closed connection; bounded so a bug cannot hang the run.
            await WriteRowsAsync(copy, 10, 100_000, CancellationToken.None);
            await copy.CompleteAsync(CancellationToken.None);
        });

        Assert.That(thrown, Is.InstanceOf<NpgsqlException>(), thrown?.ToString());
    }

    [Test]
    public async Task Should_surface_the_cancellation_of_a_blocked_write()
    {
        var table = $"tenant_acme.blocked_copy_{Guid.NewGuid():N}";
        var db = TestRun.Shared.Sandbox.Db;
        await using (var create = db.CreateCommand($"create table {table} (n int primary key, x bytea)"))
        {
            await create.ExecuteNonQueryAsync();
        }

        try
        {
            // Another transaction holds key 0 uncommitted: the COPY's row 0 waits on it, PostgreSQL stops
            // reading, and the COPY's writes block once the socket's buffers are full.
            await using var holder = await db.OpenConnectionAsync();
            await using var held = await holder.BeginTransactionAsync();
            await using (var insert = new NpgsqlCommand($"insert into {table} values (0, null)", holder, held))
            {
                await insert.ExecuteNonQueryAsync();
            }

            await using var connection = await db.OpenConnectionAsync();
            using var stop = new CancellationTokenSource();
            var thrown = await CatchAsync(async () =>
            {
                await using var copy = await BinaryCopyRows.BeginAsync(connection, $"copy {table} (n, x) from stdin (format binary)",
                    NullLogger.Instance, CancellationToken.None);
                stop.CancelAfter(TimeSpan.FromSeconds(1));
                await WriteRowsAsync(copy, 0, 100_000, stop.Token);
                await copy.CompleteAsync(stop.Token);
            });

            Assert.Multiple(() =>
            {
                Assert.That(stop.IsCancellationRequested, "the writes blocked until the token was cancelled");
                Assert.That(thrown, Is.InstanceOf<OperationCanceledException>(), thrown?.ToString());
            });
        }
        finally
        {
            await using var drop = db.CreateCommand($"drop table {table}");
            await drop.ExecuteNonQueryAsync();
        }
    }

    private static async Task WriteRowsAsync(BinaryCopyRows copy, int from, int to, CancellationToken cancellationToken)
    {
        for (var n = from; n < to; n++)
        {
            copy.StartRow(2);
            copy.WriteInt32(n);
            copy.WriteBytes(Padding);
            await copy.FlushIfFullAsync(cancellationToken);
        }
    }

    private static async Task<Exception?> CatchAsync(Func<Task> action)
    {
        try
        {
            await action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
