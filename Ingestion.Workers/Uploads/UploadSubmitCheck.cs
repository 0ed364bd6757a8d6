using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.StateMachines;

namespace Ingestion.Workers.Uploads;

/// <summary>
/// An upload submitted on the bus names a dataset of its tenant, as <c>POST /v1/datasets/{name}/uploads</c>
/// must (404 otherwise): a command for an unknown one is refused before it becomes a job.
/// </summary>
public sealed class UploadSubmitCheck(DatasetCatalog catalog) : ISubmitCheck<SubmitUpload>
{
    public async Task<string?> RefusalAsync(SubmitUpload submitted, CancellationToken cancellationToken) =>
        await catalog.FindAsync(submitted.TenantId, submitted.Dataset, cancellationToken) is null
            ? $"tenant '{submitted.TenantId}' has no dataset '{submitted.Dataset}'."
            : null;
}
