using Ingestion.Platform.Datasets;
using Npgsql;

namespace Ingestion.Platform.Jobs;

/// <summary>
/// The reject limits an upload job is held to: those a retry raised (kept on the job), else its
/// dataset's. Counts are the whole file's, so a job that stopped at a limit runs on only under a
/// higher one.
/// </summary>
/// <param name="Raised">Whether the limits came from a retry rather than from the dataset.</param>
public sealed record RejectLimits(long? MaxRows, double? MaxRatio, bool Raised = false)
{
    /// <summary>The error code of a job that stopped at its reject limit.</summary>
    public const string ErrorCode = "reject_limit";

    private const string ReadSql = """
        select (data->>'maxRejectedRows')::bigint, (data->>'maxRejectedRatio')::float8 from ingestion.jobs where job_id = @job
        """;

    /// <summary>
    /// Written in the transaction that sends the retry, before the state machine sees it: the saga
    /// reads the job after this commits, and keeps the values (they are <see cref="UploadJob"/>'s).
    /// </summary>
    private const string RaiseSql = """
        update ingestion.jobs
        set data = data || jsonb_strip_nulls(jsonb_build_object('maxRejectedRows', @rows::bigint, 'maxRejectedRatio', @ratio::float8))
        where job_id = @job
        """;

    public static RejectLimits Of(DatasetDefinition dataset, long? raisedRows, double? raisedRatio) =>
        raisedRows is null && raisedRatio is null
            ? new RejectLimits(dataset.MaxRejectedRows, dataset.MaxRejectedRatio)
            : new RejectLimits(raisedRows ?? dataset.MaxRejectedRows, raisedRatio ?? dataset.MaxRejectedRatio, Raised: true);

    public static RejectLimits Of(DatasetDefinition dataset, UploadJob job) => Of(dataset, job.MaxRejectedRows, job.MaxRejectedRatio);

    /// <summary>The limits of a job as its row holds them now.</summary>
    public static async Task<RejectLimits> ReadAsync(NpgsqlConnection connection, Guid jobId, DatasetDefinition dataset,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? Of(dataset, reader.IsDBNull(0) ? null : reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetDouble(1))
            : Of(dataset, null, null);
    }

    internal static async Task RaiseAsync(NpgsqlConnection connection, Guid jobId, long? rows, double? ratio,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(RaiseSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("rows", NpgsqlTypes.NpgsqlDbType.Bigint, (object?)rows ?? DBNull.Value);
        command.Parameters.AddWithValue("ratio", NpgsqlTypes.NpgsqlDbType.Double, (object?)ratio ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Whether <paramref name="rejected"/> of <paramref name="seen"/> rows cross these limits; the
    /// ratio is judged once <paramref name="judgeRatio"/> (enough rows read, or the end of the file).
    /// </summary>
    public string? Crossed(long rejected, long seen, bool judgeRatio)
    {
        var whose = Raised ? "limit the retry set" : "dataset's limit";
        if (MaxRows is { } maxRows && rejected > maxRows)
        {
            return $"{rejected:N0} rows were rejected, more than the {whose} of {maxRows:N0}.";
        }

        if (MaxRatio is { } maxRatio && seen > 0 && judgeRatio && (double)rejected / seen > maxRatio)
        {
            return $"{rejected:N0} of {seen:N0} rows were rejected ({(double)rejected / seen:P1}), more than the {whose} of {maxRatio:P1}.";
        }

        return null;
    }
}
