import type { Notice } from "../notices";

export function NoticeView({ notice, onRetry, testId = "notice" }: { notice: Notice; onRetry?: () => void; testId?: string }) {
  return (
    <div className={`notice ${notice.kind}`} role="alert" data-testid={testId} data-kind={notice.kind}>
      <strong>{notice.title}</strong>
      {notice.detail && <div className="notice-detail">{notice.detail}</div>}
      <div className="notice-hint">{notice.hint}</div>
      {onRetry && (
        <button type="button" onClick={onRetry} data-testid="retry">
          Retry
        </button>
      )}
    </div>
  );
}
