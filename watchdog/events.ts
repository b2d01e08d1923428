/** What the box reports about itself; MQTT publishes these, the catalog keeps them. */
export type EventType =
  | 'camera_offline' | 'camera_online' | 'gap' | 'stall_detected' | 'watchdog_restart'
  | 'disk_low' | 'disk_unwritable' | 'disk_ok' | 'retention_at_risk' | 'retention_deletion'
  | 'hold_added' | 'hold_released' | 'clock_jump' | 'clock_unsynced' | 'tamper_suspected' | 'tamper_cleared'
  | 'retention_paused' | 'retention_resumed' | 'disk_filled_externally' | 'segment_quarantined' | 'integrity_violation'
  | 'capture_mask_unenforced' | 'upload_done' | 'upload_retrying' | 'upload_failed';

export type RaiseEvent = (type: EventType, camera: string | null, data: Record<string, unknown>) => void;
