namespace Ingestion.Contracts.Jobs;

/// <summary>
/// The answer to a submit command sent with MassTransit's request client
/// (<c>IRequestClient&lt;SubmitUpload&gt;</c>, <c>IRequestClient&lt;BuildStatement&gt;</c>, …): the job
/// exists, under the id the caller chose. A command sent again with the same id (a retry after a
/// timeout) is answered with the same job as it now stands; no second job is made. A command that
/// cannot become a job (an unknown dataset) is answered with a fault instead, which the request
/// client throws as a <c>RequestFaultException</c>.
/// </summary>
/// <param name="JobId">The job, i.e. the command's <c>JobId</c>.</param>
/// <param name="Kind">The job's kind: <c>upload</c>, <c>statement</c>, …</param>
/// <param name="TenantId">The tenant the job belongs to.</param>
/// <param name="Status">
/// The job's status as <c>GET /v1/jobs/{id}</c> shows it: the kind's first one (<c>uploaded</c>,
/// <c>requested</c>) for a new job; any later one when the command was a repeat.
/// </param>
/// <param name="CreatedAt">When the job was created; earlier than the command for a repeat.</param>
/// <param name="Links">Paths on the HTTP API, relative to its base URL: <c>self</c> is the job.</param>
public sealed record JobAccepted(
    Guid JobId,
    string Kind,
    string TenantId,
    string Status,
    DateTimeOffset CreatedAt,
    IReadOnlyDictionary<string, string> Links) : IJobMessage;
