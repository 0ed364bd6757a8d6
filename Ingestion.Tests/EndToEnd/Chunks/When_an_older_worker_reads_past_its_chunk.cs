using Ingestion.Workers.Copy;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A worker of a version before migration 0034, still running in a fleet that is rolling out (or rolled back), reads a
/// Parquet chunk (a range of rows) to the end of the file. Its checkpoint moves with the same statement as a current
/// worker's (<see cref="UploadChunk.AdvanceAsync"/>), in the transaction that commits its batch: PostgreSQL refuses it past
/// the chunk's end (trigger <c>upload_chunks_within_range</c>, migration 0035), so that batch rolls back with its rows,
/// rather than loading the next chunks' rows a second time, and the error that faults the old worker's job says why. A
/// chunk an old worker left past its end before the migration can still be halted or applied (its checkpoint does not
/// move). Batches up to the end commit as they always did.
/// </summary>
public sealed class When_an_older_worker_reads_past_its_chunk
{
    [Test]
    public async Task Should_refuse_its_batch_past_the_chunk_s_end_and_keep_the_chunk_where_it_was()
    {
        var jobId = Guid.NewGuid();
        await using var connection = await TestRun.Shared.Sandbox.Db.OpenConnectionAsync();
        await ExecuteAsync(connection, """
            insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line, state)
            values (@job, 0, 0, 1000, 0, 0, 0, 'sent')
            """, jobId);
        try
        {
            var chunk = await UploadChunk.FindAsync(connection, jobId, 0, CancellationToken.None);
            chunk = await chunk!.AdvanceAsync(connection, 600, 600, 600, 0, "sent", CancellationToken.None);

            // The old worker's next batch: rows 601 to 1,600, of which 1,001 on are the next chunk's.
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                var refused = Assert.ThrowsAsync<PostgresException>(() =>
                    chunk.AdvanceAsync(connection, 1600, 1600, 1000, 0, "sent", CancellationToken.None));
                Assert.That((refused!.SqlState, refused.ConstraintName), Is.EqualTo((PostgresErrorCodes.CheckViolation, "upload_chunks_within_range")));
                Assert.That(refused.MessageText, Does.Contain("cannot move to 1600, past its end (1000)")
                    .And.Contain("a worker older than migration 0034"), "the job's error says what happened and what to do");
                await transaction.RollbackAsync();
            }

            var kept = await UploadChunk.FindAsync(connection, jobId, 0, CancellationToken.None);
            Assert.That((kept!.ByteOffset, kept.RowsLoaded), Is.EqualTo((600L, 600L)), "where its last batch within range left it");

            // A current worker stops at the end: its last batch commits, and the chunk is done.
            var done = await kept.AdvanceAsync(connection, 1000, 1000, 400, 0, "done", CancellationToken.None);
            Assert.That((done.ByteOffset, done.RowsLoaded), Is.EqualTo((1000L, 1000L)));

            // A chunk an old worker took past its end before migration 0035: halting its job (every chunk row of the job,
            // one statement) still commits, since its checkpoint does not move.
            await ExecuteAsync(connection, """
                alter table ingestion.upload_chunks disable trigger upload_chunks_within_range;
                update ingestion.upload_chunks set byte_offset = 1600 where job_id = @job;
                alter table ingestion.upload_chunks enable trigger upload_chunks_within_range;
                update ingestion.upload_chunks set halted_attempt = 1 where job_id = @job;
                """, jobId);
            Assert.That((await UploadChunk.FindAsync(connection, jobId, 0, CancellationToken.None))!.ByteOffset, Is.EqualTo(1600L));
        }
        finally
        {
            await ExecuteAsync(connection, "delete from ingestion.upload_chunks where job_id = @job", jobId);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, Guid jobId)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await command.ExecuteNonQueryAsync();
    }
}
