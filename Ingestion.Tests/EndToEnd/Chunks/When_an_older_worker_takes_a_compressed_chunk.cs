using Ingestion.Workers.Copy;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A worker of a version before migration 0037, still running in a fleet that is rolling out (or rolled back), takes a
/// chunk of a compressed file. It would read the chunk's byte range of the compressed object as text. PostgreSQL refuses
/// its batch (trigger <c>upload_chunks_compressed_reader</c>): the old worker moves a chunk's checkpoint with the statement
/// it always had, and only a current worker's (<see cref="UploadChunk.AdvanceAsync"/>) says it decompresses. So the batch
/// rolls back with its rows, and the error that faults the old worker's job says why. A plain file's chunk is not
/// concerned: old workers read it right, and their batches commit as they always did.
/// </summary>
public sealed class When_an_older_worker_takes_a_compressed_chunk
{
    // How a worker before migration 0037 moved a chunk's checkpoint (UploadChunk.AdvanceSql as it was).
    private const string OldAdvanceSql = """
        update ingestion.upload_chunks
        set byte_offset = @to_offset, line = @to_offset, rows_loaded = rows_loaded + 100, state = 'sent', updated_at = now()
        where job_id = @job and chunk = @chunk and byte_offset = @from_offset and state = 'sent'
        """;

    [Test]
    public async Task Should_refuse_its_batch_on_a_compressed_chunk_and_let_a_current_worker_load_it()
    {
        var jobId = Guid.NewGuid();
        await using var connection = await TestRun.Shared.Sandbox.Db.OpenConnectionAsync();
        await ExecuteAsync(connection, """
            insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line, state,
                object_start, object_end)
            values (@job, 0, 0, 1000, 0, 0, 0, 'sent', 0, 150),
                   (@job, 1, 1000, 2000, 0, 1000, 0, 'sent', null, null)
            """, jobId);
        try
        {
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                var refused = Assert.ThrowsAsync<PostgresException>(() => OldAdvanceAsync(connection, jobId, 0, 0, 400));
                Assert.That((refused!.SqlState, refused.ConstraintName),
                    Is.EqualTo((PostgresErrorCodes.CheckViolation, "upload_chunks_compressed_reader")));
                Assert.That(refused.MessageText, Does.Contain("a worker older than migration 0037")
                    .And.Contain("Processing:ChunkCompressed"), "the job's error says what happened and what to do");
                await transaction.RollbackAsync();
            }

            var chunk = await UploadChunk.FindAsync(connection, jobId, 0, CancellationToken.None);
            Assert.That(chunk!.ByteOffset, Is.Zero, "nothing of the old worker's batch stays");

            // A current worker's batch on the same chunk commits, in a transaction as every batch is, and outside one.
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                chunk = await chunk.AdvanceAsync(connection, 400, 4, 4, 0, "sent", CancellationToken.None);
                await transaction.CommitAsync();
            }

            chunk = await chunk.AdvanceAsync(connection, 1000, 10, 6, 0, "done", CancellationToken.None);
            Assert.That((chunk.ByteOffset, chunk.RowsLoaded, chunk.State), Is.EqualTo((1000L, 10L, "done")));

            // Moved back to 400 (as an eviction moves a chunk back to its start): allowed. After it, on the same connection,
            // the current worker's setting is gone with its transaction: an old statement is refused again.
            await ExecuteAsync(connection,
                "update ingestion.upload_chunks set byte_offset = 400, state = 'sent' where job_id = @job and chunk = 0", jobId);
            Assert.ThrowsAsync<PostgresException>(() => OldAdvanceAsync(connection, jobId, 0, 400, 1000));

            // A plain file's chunk: the old statement commits.
            Assert.That(await OldAdvanceAsync(connection, jobId, 1, 1000, 1500), Is.EqualTo(1));
        }
        finally
        {
            await ExecuteAsync(connection, "delete from ingestion.upload_chunks where job_id = @job", jobId);
        }
    }

    private static async Task<int> OldAdvanceAsync(NpgsqlConnection connection, Guid jobId, int chunk, long from, long to)
    {
        await using var command = new NpgsqlCommand(OldAdvanceSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("chunk", chunk);
        command.Parameters.AddWithValue("from_offset", from);
        command.Parameters.AddWithValue("to_offset", to);
        return await command.ExecuteNonQueryAsync();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, Guid jobId)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await command.ExecuteNonQueryAsync();
    }
}
